-- Successful logins as fast as they come: each one is a full bcrypt check. Reports like
-- report.lua.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"email":"bench@example.com","password":"correct horse battery staple"}'

dofile(os.getenv("BENCH_REPORT"))
