-- A check on httpbin's /json document, used by custom_check.toml: the body of a
-- Lua function that gets the response as `r` and returns true, or false and what
-- was wrong. An error (a nil indexed, bad JSON) fails the check too, and the
-- report counts it with this file's name and line.
local o = json.decode(r.body)
local show = o.slideshow
if show == nil then
  return false, "no slideshow"
end
if type(show.slides) ~= "table" or #show.slides == 0 then
  return false, "no slides"
end
for i, slide in ipairs(show.slides) do
  if type(slide.title) ~= "string" or slide.title == "" then
    return false, "slide " .. i .. " has no title"
  end
end
return true
