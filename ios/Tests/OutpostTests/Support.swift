// Helpers shared by the Swift tests: temp databases and bounded waits.
import Foundation
import XCTest
@testable import Outpost

/// Upper bound for any single wait in a test, in seconds.
let timeoutSeconds: UInt64 = 60

/// A fresh temporary directory, removed when the test ends.
func temporaryDirectory(_ test: XCTestCase) throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString)
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
    return dir
}

/// Opens (creating) the database `name` under `dir`.
func openDb(_ dir: URL, _ name: String) throws -> Database {
    try Database.open(path: dir.appendingPathComponent(name).path, config: DatabaseConfig())
}

struct TimedOut: Error {}

/// Runs `body`, failing with `TimedOut` after `timeoutSeconds`.
func withTimeout<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(nanoseconds: timeoutSeconds * 1_000_000_000)
            throw TimedOut()
        }
        guard let first = try await group.next() else { throw TimedOut() }
        group.cancelAll()
        return first
    }
}

/// The first `count` elements of `stream`, or `TimedOut`.
func first<S: AsyncSequence & Sendable>(_ count: Int, of stream: S) async throws -> [S.Element] where S.Element: Sendable {
    try await withTimeout {
        var got: [S.Element] = []
        for try await element in stream {
            got.append(element)
            if got.count == count { break }
        }
        return got
    }
}

/// Thread-safe box for values recorded by callbacks.
final class Recorder<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [T] = []
    func append(_ item: T) { lock.lock(); items.append(item); lock.unlock() }
    var all: [T] { lock.lock(); defer { lock.unlock() }; return items }
}
