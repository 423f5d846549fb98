-- One POST, the same for every request: $BENCH_BODY as $BENCH_CONTENT_TYPE (the OAuth
-- endpoints' form bodies), with the headers given to wrk (-H). Reports like report.lua.
wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY")
wrk.headers["Content-Type"] = os.getenv("BENCH_CONTENT_TYPE")

dofile(os.getenv("BENCH_REPORT"))
