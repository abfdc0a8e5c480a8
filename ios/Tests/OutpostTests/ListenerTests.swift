// Change listeners and AsyncStreams (mirrors tests/kotlin ListenerTest).
import Foundation
import XCTest
@testable import Outpost

final class ListenerTests: XCTestCase {
    func testChangeStreamDeliversEachCommittedWrite() async throws {
        let db = try openDb(try temporaryDirectory(self), "camp.db")
        let c = try db.createCollection(name: "children")
        let stream = c.changeStream()  // registered now, before the writes
        try await c.save("a", body: "{}")
        try await c.write([.save(id: "b", rev: nil, body: "{}"), .save(id: "d", rev: nil, body: "{}")])
        let got = try await first(2, of: stream)
        XCTAssertEqual(got.map { $0.docIds.sorted() }, [["a"], ["b", "d"]])
        XCTAssertTrue(got.allSatisfy { $0.collection == "children" })
    }

    func testDocumentStreamSeesOnlyItsDocument() async throws {
        let db = try openDb(try temporaryDirectory(self), "camp.db")
        let c = try db.defaultCollection()
        let stream = c.documentChangeStream("watched")
        _ = try c.save(id: "other", rev: nil, body: "{}")
        _ = try c.save(id: "watched", rev: nil, body: #"{"v":1}"#)
        XCTAssertEqual(try await first(1, of: stream).first?.docIds, ["watched"])
    }

    func testCancellingTheHandleStopsDelivery() throws {
        let db = try openDb(try temporaryDirectory(self), "camp.db")
        let c = try db.defaultCollection()
        let seen = Recorder<String>()
        let handle = c.addChangeListener { event in event.docIds.forEach(seen.append) }
        _ = try c.save(id: "a", rev: nil, body: "{}")
        XCTAssertTrue(handle.isActive())
        handle.cancel()
        XCTAssertFalse(handle.isActive())
        _ = try c.save(id: "b", rev: nil, body: "{}")
        // Listeners run synchronously after commit on the writing thread.
        XCTAssertEqual(seen.all, ["a"])
    }

    func testADiscardedHandleLeavesTheListenerRegistered() throws {
        let db = try openDb(try temporaryDirectory(self), "camp.db")
        let c = try db.defaultCollection()
        let seen = Recorder<String>()
        c.addChangeListener { event in event.docIds.forEach(seen.append) }  // handle released at once
        _ = try c.save(id: "a", rev: nil, body: "{}")
        // Listeners run synchronously after commit on the writing thread.
        XCTAssertEqual(seen.all, ["a"])
    }

    func testCallbacksArriveFromRustThreadsAndMayCallBackIntoOutpost() async throws {
        let dir = try temporaryDirectory(self)
        let source = try openDb(dir, "source.db")
        let target = try openDb(dir, "target.db")
        for i in 0..<20 { _ = try source.defaultCollection().save(id: "doc-\(i)", rev: nil, body: #"{"i":\#(i)}"#) }
        let targetDocs = try target.defaultCollection()
        let bodies = Recorder<String>()
        let onMainThread = Recorder<Bool>()
        let handle = targetDocs.addChangeListener { event in
            onMainThread.append(Thread.isMainThread)
            for id in event.docIds {
                // Re-entrant call from a Rust thread into Rust.
                if let doc = try? targetDocs.get(id: id) { bodies.append(doc.body) }
            }
        }
        let replicator = try source.replicator(to: .localDatabase(database: target), config: ReplicatorConfig(direction: .push))
        try await replicator.run()
        XCTAssertEqual(bodies.all.count, 20)
        XCTAssertTrue(bodies.all.contains(#"{"i":7}"#))
        XCTAssertFalse(onMainThread.all.contains(true))
        handle.cancel()
    }
}
