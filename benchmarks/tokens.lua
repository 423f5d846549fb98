-- Each request carries the next access token of $BENCH_TOKENS (one per line) in the cookie
-- $BENCH_COOKIE, round-robin, after the header lines of $BENCH_HEADERS. Up to $BENCH_PRELOAD
-- tokens (default 20000) are read once and their requests built before the load starts; a
-- longer file (a million tokens) is read as the load goes, so it costs no memory here.
-- Reports like report.lua.
local path = os.getenv("BENCH_TOKENS")
local cookie = (os.getenv("BENCH_COOKIE") or "gateway_auth") .. "="
local preload = tonumber(os.getenv("BENCH_PRELOAD") or "20000")
local extra = os.getenv("BENCH_HEADERS") or ""  -- more header lines, each ending in CRLF
local requests, count, index, file, head = {}, 0, 0, nil, nil

init = function(args)
  head = wrk.method .. " " .. wrk.path .. " HTTP/1.1\r\nHost: " .. wrk.headers["Host"]
    .. "\r\n" .. extra .. "Cookie: " .. cookie
  file = assert(io.open(path, "r"))
  for token in file:lines() do
    count = count + 1
    if count > preload then
      requests = nil
      file:seek("set")
      return
    end
    requests[count] = head .. token .. "\r\n\r\n"
  end
end

request = function()
  if requests then
    index = index % count + 1
    return requests[index]
  end
  local token = file:read("*l")
  if token == nil then
    file:seek("set")
    token = file:read("*l")
  end
  return head .. token .. "\r\n\r\n"
end

dofile(os.getenv("BENCH_REPORT"))
