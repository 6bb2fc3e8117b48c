import Foundation
import GitMirror

// Mirrors one source the way a run's checkout step does (`GitMirror.resolve`), for
// Benchmarks/mirror-benchmark.sh: depends on GitMirror alone, so measuring it needs no build of the
// whole CLI.
//
//   sutradhar-mirror-benchmark SOURCE MIRRORS_FOLDER [REF]
//
// Prints the progress lines on standard error with the seconds since start, and the resolved
// commit and whether it was fetched on standard output.
let arguments = CommandLine.arguments
guard arguments.count == 3 || arguments.count == 4 else {
    FileHandle.standardError.write(Data("usage: sutradhar-mirror-benchmark SOURCE MIRRORS_FOLDER [REF]\n".utf8))
    exit(2)
}
let started = ContinuousClock.now
let mirror = GitMirror(source: arguments[1], mirrorsRoot: URL(fileURLWithPath: arguments[2]))
do {
    let commit = try await mirror.resolve(ref: arguments.count == 4 ? arguments[3] : nil, progress: { line in
        let seconds = Double((ContinuousClock.now - started).components.attoseconds) / 1e18
            + Double((ContinuousClock.now - started).components.seconds)
        FileHandle.standardError.write(Data(String(format: "[%7.3f] %@\n", seconds, line).utf8))
    })
    print("\(commit.sha) fetched=\(commit.fetched)")
} catch {
    FileHandle.standardError.write(Data("error: \(error)\n".utf8))
    exit(1)
}
