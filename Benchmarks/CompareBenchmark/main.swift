// Compares two builds' outputs with the library's `OutputComparison` (image tarballs layer by
// layer, streaming) and prints the differences and the wall time, for
// Benchmarks/reproduce-benchmark.sh, which measures its peak memory with /usr/bin/time.
import Foundation
import Reproduce

let arguments = CommandLine.arguments.dropFirst()
guard arguments.count == 2, let first = arguments.first, let second = arguments.last else {
    FileHandle.standardError.write(Data("usage: sutradhar-compare-benchmark FIRST SECOND\n".utf8))
    exit(2)
}
let clock = ContinuousClock()
let start = clock.now
do {
    let (differences, total) = try await OutputComparison.compare(first, second)
    let elapsed = clock.now - start
    for difference in differences { print(difference) }
    print("differences: \(total); compared in \(elapsed)")
} catch {
    FileHandle.standardError.write(Data("error: \(error)\n".utf8))
    exit(1)
}
