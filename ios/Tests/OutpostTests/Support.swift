// Helpers shared by the Swift tests: temp databases and bounded waits. The tests
// import Outpost without @testable: they use the public API only.
import Foundation
import XCTest
import Outpost

/// Upper bound for any single wait in a test, in seconds.
let timeoutSeconds: UInt64 = 60

/// A fresh temporary directory, removed when the test ends.
func temporaryDirectory(_ test: XCTestCase) throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString)
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
    return dir
}

/// phone.db and hub.db, opened in a fresh temporary directory.
func openPhoneAndHub(_ test: XCTestCase) async throws -> (phone: Database, hub: Database) {
    let dir = try temporaryDirectory(test)
    return (try await openDb(dir, "phone.db"), try await openDb(dir, "hub.db"))
}

/// Opens (creating) the database `name` under `dir`.
func openDb(_ dir: URL, _ name: String) async throws -> Database {
    try await Database.open(at: dir.appendingPathComponent(name).path)
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

/// A serial queue for callbacks in tests (the default, main, is busy running the test).
let callbacks = DispatchQueue(label: "org.outpost.tests.callbacks")

/// Waits on `callbacks` until everything queued on it so far has run.
func drainCallbacks() { callbacks.sync {} }

/// Drives a continuous push-and-pull `replicator` between `phone` and `hub` (whatever its
/// target): it reaches idle, a new write on each side reaches the other, and it stops cleanly.
func assertContinuousSyncFollowsWritesAndStops(_ replicator: Replicator, phone: Database, hub: Database) async throws {
    let statuses = replicator.statusStream()
    try replicator.start()
    _ = try await withTimeout {
        for await status in statuses where status.activity == .idle { return status }
        throw TimedOut()
    }
    try await saveAndAwaitArrival(from: phone, to: hub, id: "late", json: #"{"after":"idle"}"#)
    try await saveAndAwaitArrival(from: hub, to: phone, id: "reply", json: #"{"from":"hub"}"#)
    let stopped = try await withTimeout { await replicator.stopAndWait() }
    XCTAssertEqual(stopped.activity, .stopped)
    XCTAssertNil(stopped.error)
}

/// Saves `json` as `id` in `from` and waits until a running replicator has brought it to `to`.
private func saveAndAwaitArrival(from: Database, to: Database, id: String, json: String) async throws {
    let target = try await to.defaultCollection()
    let arrived = target.documentChangeStream(id)
    try await from.defaultCollection().save(id, json: json)
    _ = try await first(1, of: arrived)
    let body = try await target.document(id)?.json
    XCTAssertEqual(body, json)
}

/// The error a one-shot `replicator` stopped with; fails the test if it succeeded.
func failure(of replicator: Replicator, file: StaticString = #filePath, line: UInt = #line) async throws -> OutpostError? {
    do {
        try await withTimeout { try await replicator.run() }
        XCTFail("the replication succeeded", file: file, line: line)
        return nil
    } catch let error as OutpostError {
        return error
    }
}

/// Creates the collection "children" in `phone` and `hub` and writes the documents child-00000
/// to child-(count-1) into `phone`'s, 1,000 per transaction; returns that collection.
@discardableResult
func writeChildren(_ phone: Database, _ hub: Database, count: Int) async throws -> Collection {
    try await hub.createCollection("children")
    let docs = try await phone.createCollection("children")
    for chunk in stride(from: 0, to: count, by: 1_000) {
        try await docs.write((chunk..<min(chunk + 1_000, count)).map { i in
            .save(id: String(format: "child-%05d", i), json: #"{"i":\#(i)}"#)
        })
    }
    return docs
}

/// Checks that `copy` holds the `count` documents of `writeChildren`, samples at the same revisions.
func assertChildrenCopied(_ docs: Collection, to copy: Collection, count: Int) async throws {
    let copied = try await copy.count()
    XCTAssertEqual(copied, count)
    for i in [0, 1, count / 2, count - 1] {
        let id = String(format: "child-%05d", i)
        let original = try await docs.document(id)
        let copy = try await copy.document(id)
        XCTAssertEqual(copy?.rev, original?.rev)
        XCTAssertEqual(copy?.json, #"{"i":\#(i)}"#)
    }
}
