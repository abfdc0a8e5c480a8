// Queries through the public Swift API: the selector builder and raw JSON,
// typed results, indexes and explain, full-text search, live queries as an
// AsyncStream, and typed errors (mirrors tests/kotlin QueryTest).
import Foundation
import XCTest
import Outpost

struct Kid: Codable, Equatable { var name: String; var age: Int; var camp: String }

final class QueryTests: XCTestCase {
    private func children(_ db: Database) async throws -> Collection {
        let c = try await db.createCollection("children")
        try await c.save("c1", Kid(name: "Amina Diallo", age: 7, camp: "north"))
        try await c.save("c2", Kid(name: "Yusuf", age: 12, camp: "north"))
        try await c.save("c3", Kid(name: "AMÍNA", age: 5, camp: "south"))
        try await c.save("c4", json: #"{"name":"Leila","camp":"south"}"#)
        return c
    }

    func testBuilderAndRawSelectorsFindTheSameDocuments() async throws {
        let dir = try temporaryDirectory(self)
        let db = try await Database.open(at: dir.appendingPathComponent("camp.db").path)
        let c = try await children(db)
        let q = Query.where(Field("camp") == "north" && Field("age") < 10)
        let built = try await c.find(q)
        XCTAssertEqual(built.map(\.id), ["c1"])
        let raw = try await c.find(.raw(#"{"camp": "north", "age": {"$lt": 10}}"#))
        XCTAssertEqual(raw, built)
        let typed = try await c.find(.where(Field("age") >= 5).order(by: "age", descending: true).limit(2), as: Kid.self)
        XCTAssertEqual(typed.map(\.value.name), ["Yusuf", "Amina Diallo"])
        let missing = try await c.find(.where(Field("age").exists(false)))
        XCTAssertEqual(missing.map(\.id), ["c4"])
        let notAm = try await c.find(.where(!Field("name").matches("(?i)^am")))
        XCTAssertEqual(notAm.map(\.id), ["c2", "c4"])
        let count = try await c.count(.where(.all).limit(1))
        XCTAssertEqual(count, 4)
        try db.close()
    }

    func testIndexesAndTextSearch() async throws {
        let dir = try temporaryDirectory(self)
        let db = try await Database.open(at: dir.appendingPathComponent("camp.db").path)
        let c = try await children(db)
        let byAge = Query.where(Field("age") > 6)
        var index = try await c.explain(byAge)
        XCTAssertNil(index)
        try await c.createIndex("by_age", fields: ["age"])
        try await c.createTextIndex("names", fields: ["name"])
        index = try await c.explain(byAge)
        XCTAssertEqual(index, "by_age")
        let listed = try await c.indexes()
        XCTAssertEqual(listed.map(\.name), ["by_age", "names"])
        for spelling in ["Amina", "amína", "AMINA"] {
            let hits = try await c.search(spelling)
            XCTAssertEqual(Set(hits.map(\.document.id)), ["c1", "c3"])
        }
        let deleted = try await c.deleteIndex("by_age")
        XCTAssertTrue(deleted)
        try db.close()
    }

    func testLiveQueryStreamFollowsChanges() async throws {
        let dir = try temporaryDirectory(self)
        let db = try await Database.open(at: dir.appendingPathComponent("camp.db").path)
        let c = try await children(db)
        var seen: [[String]] = []
        for await list in try c.liveQuery(.where(Field("camp") == "north").order(by: "name")) {
            seen.append(list.map(\.id))
            // The first list is the current results; the next follows a change that alters them.
            if seen.count == 1 { try await c.save("c5", json: #"{"name":"Bilal","camp":"north"}"#) }
            if seen.count == 2 { break }
        }
        XCTAssertEqual(seen, [["c1", "c2"], ["c1", "c5", "c2"]])
        try db.close()
    }

    func testUnsupportedOperatorsAreTypedErrors() async throws {
        let dir = try temporaryDirectory(self)
        let db = try await Database.open(at: dir.appendingPathComponent("camp.db").path)
        let c = try await children(db)
        do {
            _ = try await c.find(.raw(#"{"age": {"$mod": [2, 0]}}"#))
            XCTFail("expected an error")
        } catch OutpostError.invalidInput(let message) {
            XCTAssertTrue(message.contains("$mod"), message)
        }
        do {
            _ = try await c.search("amina")
            XCTFail("expected an error")
        } catch OutpostError.invalidInput {}
        try db.close()
    }
}
