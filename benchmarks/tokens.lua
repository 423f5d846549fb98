-- Each request carries the next access token of $BENCH_TOKENS (one per line, read as the load
-- goes, so a million tokens cost no memory here) in the cookie $BENCH_COOKIE; after the last
-- line it starts again. Reports like report.lua.
local path = os.getenv("BENCH_TOKENS")
local prefix = (os.getenv("BENCH_COOKIE") or "gateway_auth") .. "="
local file = assert(io.open(path, "r"))

request = function()
  local token = file:read("*l")
  if token == nil then
    file:seek("set")
    token = file:read("*l")
  end
  return wrk.format(nil, nil, { ["Cookie"] = prefix .. token })
end

dofile(os.getenv("BENCH_REPORT"))
