// Matching time of a hostile .dockerignore, compiled with Sources/DockerEngine/DockerIgnore.swift
// by Benchmarks/dockerignore-benchmark.sh. "after": DockerIgnore (the automaton); "before": the same
// pattern as the regular expression Docker compiles it to, run by NSRegularExpression (ICU, which
// backtracks), as Sutradhar matched before, stopped after LIMIT seconds and projected.
import Foundation

let arguments = CommandLine.arguments
let count = arguments.count > 1 ? Int(arguments[1])! : 1000
let limit = arguments.count > 2 ? Double(arguments[2])! : 60
let names = (0..<count).map { String(repeating: "a", count: 200) + String($0) }
let pattern = "*a*a*a*a*a*a*a*a*c"

var started = Date()
let ignore = DockerIgnore(pattern + "\n")
let excluded = names.filter(ignore.excludes).count
let after = Date().timeIntervalSince(started)
print(String(format: "after:  %@ against %d names of 200+ characters: %.4f s (%d excluded)", pattern, count, after, excluded))

let regex = try! NSRegularExpression(pattern: "^[^/]*a[^/]*a[^/]*a[^/]*a[^/]*a[^/]*a[^/]*a[^/]*a[^/]*c$")
started = Date()
var done = 0
for name in names {
    _ = regex.firstMatch(in: name, range: NSRange(name.startIndex..., in: name))
    done += 1
    if Date().timeIntervalSince(started) > limit { break }
}
let before = Date().timeIntervalSince(started)
print(String(format: "before: the same with NSRegularExpression: %d of %d names in %.1f s, %.1f s a name: %.0f s (%.1f h) for all",
             done, count, before, before / Double(done), before / Double(done) * Double(count), before / Double(done) * Double(count) / 3600))
