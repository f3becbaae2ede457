-- wrk script: send each connection's requests N deep in one write (HTTP/1.1
-- pipelining, as TechEmpower's plaintext test does). wrk counts every
-- response. Usage: wrk -s bench/http_pipeline.lua URL -- 16
init = function(args)
   local depth = tonumber(args[1]) or 16
   local r = {}
   for i = 1, depth do
      r[i] = wrk.format()
   end
   req = table.concat(r)
end

request = function()
   return req
end
