// The local store through the public Swift API: CRUD, collections, batches, the
// changes feed, each typed error, close(), and Codable documents (mirrors
// tests/kotlin StoreTest and DocumentTest).
import Foundation
import XCTest
import Outpost

final class StoreTests: XCTestCase {
    func testSaveGetUpdateDeletePurgeRoundTrip() async throws {
        let dir = try temporaryDirectory(self)
        let db = try await Database.open(at: dir.appendingPathComponent("camp.db").path)
        XCTAssertEqual(db.path, dir.appendingPathComponent("camp.db").path)
        let children = try await db.defaultCollection()
        XCTAssertEqual(children.name, "_default")
        let rev1 = try await children.save("child-1", json: #"{"name":"Amina","age":7}"#)
        let doc = try await children.document("child-1")
        XCTAssertEqual(doc?.rev, rev1)
        XCTAssertEqual(doc?.json, #"{"age":7,"name":"Amina"}"#)
        XCTAssertTrue(rev1.hasPrefix("1-"))

        let rev2 = try await children.save("child-1", json: #"{"name":"Amina K.","age":7}"#, rev: rev1)
        XCTAssertTrue(rev2.hasPrefix("2-"))
        var count = try await children.count()
        XCTAssertEqual(count, 1)

        let tombstone = try await children.delete("child-1", rev: rev2)
        let deleted = try await children.document("child-1")
        XCTAssertEqual(deleted?.deleted, true)
        XCTAssertEqual(deleted?.rev, tombstone)
        count = try await children.count()
        XCTAssertEqual(count, 0)
        let revision = try await children.document("child-1", rev: tombstone)
        XCTAssertEqual(revision?.deleted, true)

        try await children.save("child-2", json: "{}")
        let existed = try await children.purge("child-2")
        XCTAssertTrue(existed)
        let purged = try await children.document("child-2")
        XCTAssertNil(purged)
        try db.close()
    }

    func testCollectionsAreCreatedListedAndDeleted() async throws {
        let db = try await openDb(try temporaryDirectory(self), "camp.db")
        try await db.createCollection("children").save("c1", json: #"{"n":1}"#)
        try await db.createCollection("families")
        var names = try await db.collectionNames()
        XCTAssertEqual(names, ["_default", "children", "families"])
        try await db.deleteCollection("children")
        names = try await db.collectionNames()
        XCTAssertEqual(names, ["_default", "families"])
        do {
            _ = try await db.collection("children")
            XCTFail("a deleted collection was found")
        } catch OutpostError.collectionNotFound {}
    }

    func testBatchWritesAllOrNothing() async throws {
        let db = try await openDb(try temporaryDirectory(self), "camp.db")
        let c = try await db.defaultCollection()
        let revs = try await c.write([
            .save(id: "a", json: #"{"n":1}"#),
            try .save(id: "b", value: ["n": 2]),
        ])
        let before = try await db.lastSequence()
        do {
            try await c.write([.delete(id: "a", rev: revs[0]!), .save(id: "c", json: "not json")])
            XCTFail("a bad body must fail the batch")
        } catch OutpostError.invalidInput {}
        let after = try await db.lastSequence()
        XCTAssertEqual(after, before, "a failed batch must write nothing")
        let count = try await c.count()
        XCTAssertEqual(count, 2)
    }

    func testChangesFeedListsEachDocumentOnceInSequenceOrder() async throws {
        let db = try await openDb(try temporaryDirectory(self), "camp.db")
        let c = try await db.defaultCollection()
        let r = try await c.save("a", json: "{}")
        try await c.save("b", json: "{}")
        try await c.save("a", json: #"{"x":1}"#, rev: r)
        let page = try await c.changes()
        XCTAssertEqual(page.changes.map(\.id), ["b", "a"])
        let last = try await db.lastSequence()
        XCTAssertEqual(page.lastSequence, last)
        let rest = try await c.changes(since: page.lastSequence, limit: 100)
        XCTAssertTrue(rest.changes.isEmpty)
    }

    func testEveryFailureIsATypedError() async throws {
        let dir = try temporaryDirectory(self)
        let db = try await openDb(dir, "camp.db")
        let c = try await db.defaultCollection()
        let rev = try await c.save("a", json: "{}")
        try await c.save("a", json: #"{"v":2}"#, rev: rev)

        do {
            try await c.save("a", json: #"{"v":3}"#, rev: rev)
            XCTFail("a stale revision was accepted")
        } catch OutpostError.conflict(let message) {
            XCTAssertTrue(message.contains("fetch it again"))
        }
        do { try await c.delete("missing", rev: rev); XCTFail("deleted a missing document") } catch OutpostError.notFound {}
        do { try await c.save("b", json: "[1,2]"); XCTFail("saved an array") } catch OutpostError.invalidInput {}
        do { _ = try await db.collection("nope"); XCTFail("found a missing collection") } catch OutpostError.collectionNotFound {}
        do {
            _ = try db.replicator(to: .database(db)) { $0.collections = [CollectionConfiguration("_default"), CollectionConfiguration("_default")] }
            XCTFail("a collection listed twice was accepted")
        } catch OutpostError.invalidInput {}
        let garbage = dir.appendingPathComponent("garbage.db")
        try Data((0..<8192).map { UInt8(truncatingIfNeeded: $0 * 31) }).write(to: garbage)
        // Without a key, a file that is not a plain database cannot be told from an encrypted one.
        do { _ = try await Database.open(at: garbage.path); XCTFail("opened garbage") } catch OutpostError.wrongKey {}
        try db.close()
        do {
            _ = try await c.document("a")
            XCTFail("read from a closed database")
        } catch OutpostError.closed(let message) {
            XCTAssertTrue(message.contains("open it again"))
        }
        try db.close()  // closing twice is fine
    }

    func testCloseClosesTheFileSoItCanBeOpenedAgainAtOnce() async throws {
        let path = try temporaryDirectory(self).appendingPathComponent("camp.db").path
        let db = try await Database.open(at: path)
        try await db.defaultCollection().save("child-1", json: "{}")
        try db.close()
        let again = try await Database.open(at: path)
        let count = try await again.defaultCollection().count()
        XCTAssertEqual(count, 1)
        try again.close()
    }

    struct Child: Codable, Equatable, Sendable {
        var name: String
        var age: Int
    }

    struct Counter: Codable, Sendable {
        var n: Int
    }

    func testCodableDocumentsRoundTripAndUnknownFieldsAreIgnored() async throws {
        let db = try await openDb(try temporaryDirectory(self), "camp.db")
        let children = try await db.createCollection("children")
        let rev = try await children.save("child-1", Child(name: "Amina", age: 7))
        let doc = try await children.document("child-1", as: Child.self)
        XCTAssertEqual(doc?.value, Child(name: "Amina", age: 7))
        XCTAssertEqual(doc?.rev, rev)
        try await children.save("child-2", json: #"{"name":"Omar","age":5,"photo":"p-1"}"#)
        let omar = try await children.document("child-2", as: Child.self)
        XCTAssertEqual(omar?.value, Child(name: "Omar", age: 5))
        let missing = try await children.document("missing", as: Child.self)
        XCTAssertNil(missing)
        do {
            try await children.save("child-1", Child(name: "stale", age: 1), rev: "1-0000")
            XCTFail("a stale revision was accepted")
        } catch OutpostError.conflict {}
    }

    func testUpdateUnderContentionFromTwoTasksLosesNoIncrement() async throws {
        let db = try await openDb(try temporaryDirectory(self), "camp.db")
        let counters = try await db.defaultCollection()
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
