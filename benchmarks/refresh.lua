-- POST /refresh as browsers send it: the access cookie of a session and its refresh cookie.
-- $BENCH_SESSIONS holds one session per line ("access-cookie refresh-cookie", each name=value);
-- each request takes a session from the pool, and each answer puts it back with the refresh
-- cookie it set (a rotated token is spent: sending it again would end the session). Answers
-- come back in any order, so the session is found again by the id its refresh token starts
-- with. The pool must hold more sessions than there are connections. Reports like report.lua.
local pool, access = {}, {}

init = function(args)
  for line in io.lines(os.getenv("BENCH_SESSIONS")) do
    local a, r = line:match("^(%S+) (%S+)$")
    access[r:match("=(%x+)%.")] = a
    pool[#pool + 1] = r
  end
end

request = function()
  local refresh = table.remove(pool)
  local session = refresh:match("=(%x+)%.")
  return wrk.format("POST", wrk.path, {["Cookie"] = access[session] .. "; " .. refresh}, "")
end

response = function(status, headers, body)
  local set = headers["Set-Cookie"]  -- the last one: the refresh cookie (wrk keeps one)
  local refresh = set and set:match("^([%w_]+_refresh=[%x]+%.[%w_-]+)")
  if refresh then
    pool[#pool + 1] = refresh
  end
end

dofile(os.getenv("BENCH_REPORT"))
