// Change listeners and AsyncStreams: delivered after commit, in order, on the
// chosen queue (main by default); registered until removed, whether or not the
// token is kept (mirrors tests/kotlin ListenerTest).
import Foundation
import XCTest
import Outpost

final class ListenerTests: XCTestCase {
    func testChangeStreamDeliversEachCommittedWrite() async throws {
        let db = try await openDb(try temporaryDirectory(self), "camp.db")
        let c = try await db.createCollection("children")
        let stream = c.changeStream()  // registered now, before the writes
        try await c.save("a", json: "{}")
        try await c.write([.save(id: "b", json: "{}"), .save(id: "d", json: "{}")])
        let got = try await first(2, of: stream)
        XCTAssertEqual(got.map { $0.docIDs.sorted() }, [["a"], ["b", "d"]])
        XCTAssertTrue(got.allSatisfy { $0.collection == "children" })
    }

    func testDocumentStreamSeesOnlyItsDocument() async throws {
        let db = try await openDb(try temporaryDirectory(self), "camp.db")
        let c = try await db.defaultCollection()
        let stream = c.documentChangeStream("watched")
        try await c.save("other", json: "{}")
        try await c.save("watched", json: #"{"v":1}"#)
        let got = try await first(1, of: stream)
        XCTAssertEqual(got.first?.docIDs, ["watched"])
    }

    func testRemovingTheTokenStopsDelivery() async throws {
        let db = try await openDb(try temporaryDirectory(self), "camp.db")
        let c = try await db.defaultCollection()
        let seen = Recorder<String>()
        let token = c.addChangeListener(queue: callbacks) { event in event.docIDs.forEach(seen.append) }
        try await c.save("a", json: "{}")
        XCTAssertTrue(token.isActive)
        token.remove()
        XCTAssertFalse(token.isActive)
        try await c.save("b", json: "{}")
        // The listener queues each call on commit, so everything it queued is there now.
        drainCallbacks()
        XCTAssertEqual(seen.all, ["a"])
    }

    func testADiscardedTokenLeavesTheListenerRegistered() async throws {
        let db = try await openDb(try temporaryDirectory(self), "camp.db")
        let c = try await db.defaultCollection()
        let seen = Recorder<String>()
        c.addChangeListener(queue: callbacks) { event in event.docIDs.forEach(seen.append) }  // token released at once
        try await c.save("a", json: "{}")
        drainCallbacks()
        XCTAssertEqual(seen.all, ["a"])
    }

    @MainActor
    func testListenersAreCalledOnTheMainQueueByDefault() async throws {
        let db = try await openDb(try temporaryDirectory(self), "camp.db")
        let c = try await db.defaultCollection()
        let onMain = Recorder<Bool>()
        let called = expectation(description: "the listener was called")
        let token = c.addChangeListener { _ in onMain.append(Thread.isMainThread); called.fulfill() }
        try await c.save("a", json: "{}")
        await fulfillment(of: [called], timeout: Double(timeoutSeconds))
        XCTAssertEqual(onMain.all, [true])
        token.remove()
    }

    func testCallbacksRunInOrderOnTheChosenQueue() async throws {
        let dir = try temporaryDirectory(self)
        let source = try await openDb(dir, "source.db")
        let target = try await openDb(dir, "target.db")
        let sourceDocs = try await source.defaultCollection()
        for i in 0..<20 { try await sourceDocs.save("doc-\(i)", json: #"{"i":\#(i)}"#) }
        let targetDocs = try await target.defaultCollection()
        let sequences = Recorder<Int64>()
        let onQueue = Recorder<Bool>()
        let ids = Recorder<String>()
        let token = targetDocs.addChangeListener(queue: callbacks) { event in
            dispatchPrecondition(condition: .onQueue(callbacks))
            onQueue.append(true)
            sequences.append(event.sequence)
            event.docIDs.forEach(ids.append)
        }
        try await source.replicator(to: .database(target)) { $0.direction = .push }.run()
        drainCallbacks()
        XCTAssertEqual(Set(ids.all).count, 20)
        XCTAssertEqual(sequences.all, sequences.all.sorted(), "callbacks must arrive in commit order")
        // Each replicated write was committed before its callback ran.
        let doc = try await targetDocs.document("doc-7")
        XCTAssertEqual(doc?.json, #"{"i":7}"#)
        token.remove()
    }
}
