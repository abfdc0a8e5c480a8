// The local store through the Swift API: CRUD, collections, batches, the
// changes feed, and each typed error (mirrors tests/kotlin StoreTest).
import Foundation
import XCTest
@testable import Outpost

final class StoreTests: XCTestCase {
    func testSaveGetUpdateDeletePurgeRoundTrip() async throws {
        let dir = try temporaryDirectory(self)
        let db = try await Database.open(at: dir.appendingPathComponent("camp.db").path)
        let children = try db.defaultCollection()
        let rev1 = try await children.save("child-1", body: #"{"name":"Amina","age":7}"#)
        let doc = try await children.document("child-1")
        XCTAssertEqual(doc?.rev, rev1)
        XCTAssertEqual(doc?.body, #"{"age":7,"name":"Amina"}"#)
        XCTAssertTrue(rev1.hasPrefix("1-"))

        let rev2 = try await children.save("child-1", body: #"{"name":"Amina K.","age":7}"#, rev: rev1)
        XCTAssertTrue(rev2.hasPrefix("2-"))
        XCTAssertEqual(try children.count(), 1)

        let tombstone = try await children.delete("child-1", rev: rev2)
        let deleted = try await children.document("child-1")
        XCTAssertEqual(deleted?.deleted, true)
        XCTAssertEqual(deleted?.rev, tombstone)
        XCTAssertEqual(try children.count(), 0)

        _ = try children.save(id: "child-2", rev: nil, body: "{}")
        XCTAssertTrue(try children.purge(id: "child-2"))
        XCTAssertNil(try children.get(id: "child-2"))
    }

    func testCollectionsAreCreatedListedAndDeleted() throws {
        let db = try openDb(try temporaryDirectory(self), "camp.db")
        _ = try db.createCollection(name: "children").save(id: "c1", rev: nil, body: #"{"n":1}"#)
        _ = try db.createCollection(name: "families")
        XCTAssertEqual(try db.collectionNames(), ["_default", "children", "families"])
        try db.deleteCollection(name: "children")
        XCTAssertEqual(try db.collectionNames(), ["_default", "families"])
        XCTAssertThrowsError(try db.collection(name: "children")) { error in
            guard case OutpostError.CollectionNotFound = error else { return XCTFail("\(error)") }
        }
    }

    func testBatchWritesAllOrNothing() async throws {
        let db = try openDb(try temporaryDirectory(self), "camp.db")
        let c = try db.defaultCollection()
        let revs = try await c.write([
            .save(id: "a", rev: nil, body: #"{"n":1}"#),
            .save(id: "b", rev: nil, body: #"{"n":2}"#),
        ])
        let before = try db.lastSequence()
        do {
            try await c.write([.delete(id: "a", rev: revs[0]!), .save(id: "c", rev: nil, body: "not json")])
            XCTFail("a bad body must fail the batch")
        } catch OutpostError.InvalidInput {
        }
        XCTAssertEqual(try db.lastSequence(), before)
        XCTAssertEqual(try c.count(), 2)
    }

    func testChangesFeedListsEachDocumentOnceInSequenceOrder() throws {
        let db = try openDb(try temporaryDirectory(self), "camp.db")
        let c = try db.defaultCollection()
        let r = try c.save(id: "a", rev: nil, body: "{}")
        _ = try c.save(id: "b", rev: nil, body: "{}")
        _ = try c.save(id: "a", rev: r, body: #"{"x":1}"#)
        let page = try c.changes(since: 0, limit: 100)
        XCTAssertEqual(page.changes.map(\.id), ["b", "a"])
        XCTAssertEqual(page.lastSequence, try db.lastSequence())
    }

    func testEveryFailureIsATypedError() throws {
        let dir = try temporaryDirectory(self)
        let db = try openDb(dir, "camp.db")
        let c = try db.defaultCollection()
        let rev = try c.save(id: "a", rev: nil, body: "{}")
        _ = try c.save(id: "a", rev: rev, body: #"{"v":2}"#)

        XCTAssertThrowsError(try c.save(id: "a", rev: rev, body: #"{"v":3}"#)) { error in
            guard case OutpostError.Conflict(let message) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(message.contains("fetch it again"))
        }
        XCTAssertThrowsError(try c.delete(id: "missing", rev: rev)) { error in
            guard case OutpostError.NotFound = error else { return XCTFail("\(error)") }
        }
        XCTAssertThrowsError(try c.save(id: "b", rev: nil, body: "[1,2]")) { error in
            guard case OutpostError.InvalidInput = error else { return XCTFail("\(error)") }
        }
        XCTAssertThrowsError(try db.collection(name: "nope")) { error in
            guard case OutpostError.CollectionNotFound = error else { return XCTFail("\(error)") }
        }
        let garbage = dir.appendingPathComponent("garbage.db")
        try Data((0..<8192).map { UInt8(truncatingIfNeeded: $0 * 31) }).write(to: garbage)
        XCTAssertThrowsError(try Database.open(path: garbage.path, config: DatabaseConfig())) { error in
            guard case OutpostError.Storage = error else { return XCTFail("\(error)") }
        }
        try db.closeDatabase()
        XCTAssertThrowsError(try c.get(id: "a")) { error in
            guard case OutpostError.Closed(let message) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(message.contains("open it again"))
        }
    }

    struct Child: Codable, Equatable, Sendable {
        var name: String
        var age: Int
    }

    struct Counter: Codable, Sendable {
        var n: Int
    }

    func testCodableDocumentsRoundTripAndUnknownFieldsAreIgnored() async throws {
        let db = try openDb(try temporaryDirectory(self), "camp.db")
        let children = try db.createCollection(name: "children")
        let rev = try await children.save("child-1", Child(name: "Amina", age: 7))
        let doc = try await children.document("child-1", as: Child.self)
        XCTAssertEqual(doc?.value, Child(name: "Amina", age: 7))
        XCTAssertEqual(doc?.rev, rev)
        _ = try children.save(id: "child-2", rev: nil, body: #"{"name":"Omar","age":5,"photo":"p-1"}"#)
        let omar = try await children.document("child-2", as: Child.self)
        XCTAssertEqual(omar?.value, Child(name: "Omar", age: 5))
        let missing = try await children.document("missing", as: Child.self)
        XCTAssertNil(missing)
        do {
            try await children.save("child-1", Child(name: "stale", age: 1), rev: "1-0000")
            XCTFail("a stale revision was accepted")
        } catch OutpostError.Conflict {}
    }

    func testUpdateUnderContentionFromTwoTasksLosesNoIncrement() async throws {
        let db = try openDb(try temporaryDirectory(self), "camp.db")
        let counters = try db.defaultCollection()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<2 {
                group.addTask {
                    for _ in 0..<100 {
                        try await counters.update("counter", as: Counter.self, maxAttempts: 1_000) { Counter(n: ($0?.n ?? 0) + 1) }
                    }
                }
            }
            try await group.waitForAll()
        }
        let final = try await counters.document("counter", as: Counter.self)
        XCTAssertEqual(final?.value.n, 200)
    }
}
