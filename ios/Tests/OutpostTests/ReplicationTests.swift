// Local-to-local replication through the public Swift API (mirrors tests/kotlin
// ReplicationTest): status streams, conflicts with a Swift resolver seeing
// decoded documents, filters, pending documents, volume, lifetimes.
import Foundation
import XCTest
import Outpost

final class ReplicationTests: XCTestCase {
    struct Child: Codable, Equatable, Sendable {
        var name: String
        var age: Int?
        var camp: String?
    }

    func testOneShotStatusStreamEndsStopped() async throws {
        let dir = try temporaryDirectory(self)
        let phone = try await openDb(dir, "phone.db")
        let hub = try await openDb(dir, "hub.db")
        let docs = try await phone.defaultCollection()
        for i in 0..<5 { try await docs.save("child-\(i)", json: #"{"i":\#(i)}"#) }
        let replicator = try phone.replicator(to: .database(hub))
        let statuses = replicator.statusStream()
        try replicator.start()
        let all = try await withTimeout {
            var seen: [ReplicatorStatus] = []
            var started = false
            for await status in statuses {
                seen.append(status)
                if status.activity != .stopped { started = true }
                if started && status.activity == .stopped { break }
            }
            return seen
        }
        XCTAssertTrue(all.contains { $0.activity == .busy })
        XCTAssertEqual(all.last?.activity, .stopped)
        XCTAssertNil(all.last?.error)
        let count = try await hub.defaultCollection().count()
        XCTAssertEqual(count, 5)
    }

    func testContinuousReplicationReachesIdleFollowsNewWritesAndStops() async throws {
        let dir = try temporaryDirectory(self)
        let phone = try await openDb(dir, "phone.db")
        let hub = try await openDb(dir, "hub.db")
        let replicator = try phone.replicator(to: .database(hub)) { $0.continuous = true }
        try await assertContinuousSyncFollowsWritesAndStops(replicator, phone: phone, hub: hub)
    }

    func testSwiftConflictResolverSeesDecodedDocumentsAndItsMergeIsKept() async throws {
        let dir = try temporaryDirectory(self)
        let phone = try await openDb(dir, "phone.db")
        let hub = try await openDb(dir, "hub.db")
        let phoneDocs = try await phone.defaultCollection()
        let hubDocs = try await hub.defaultCollection()
        let base = try await phoneDocs.save("child-1", Child(name: "Amina"))
        try await phone.replicator(to: .database(hub)).run()
        try await phoneDocs.save("child-1", Child(name: "Amina", camp: "north"), rev: base)
        try await hubDocs.save("child-1", Child(name: "Amina", age: 7), rev: base)

        let seen = Recorder<Conflict>()
        try await phone.replicator(to: .database(hub)) {
            $0.direction = .pull
            $0.collections = [CollectionConfiguration("_default", conflictResolver: { conflict in
                seen.append(conflict)
                // Deterministic merge: every field either side has.
                let sides = try conflict.revisions.map { try $0.decode(as: Child.self) }
                return try .merge(Child(name: "Amina", age: sides.compactMap(\.age).max(), camp: sides.compactMap(\.camp).first))
            })]
        }.run()
        XCTAssertEqual(seen.all.count, 1)
        XCTAssertEqual(seen.all.first?.revisions.count, 2)
        let merged = try await phoneDocs.document("child-1", as: Child.self)
        XCTAssertEqual(merged?.value, Child(name: "Amina", age: 7, camp: "north"))
        XCTAssertEqual(merged?.conflicts, [])
    }

    func testPushFilterSeesDecodedDocumentsAndAThrowingFilterFailsClosed() async throws {
        struct FilterBug: Error {}
        struct Draft: Decodable { var draft: Bool?; var boom: Bool? }
        let dir = try temporaryDirectory(self)
        let phone = try await openDb(dir, "phone.db")
        let hub = try await openDb(dir, "hub.db")
        let docs = try await phone.defaultCollection()
        try await docs.save("final", json: #"{"draft":false}"#)
        try await docs.save("draft", json: #"{"draft":true}"#)
        try await docs.save("explodes", json: #"{"boom":true}"#)
        let replicator = try phone.replicator(to: .database(hub)) {
            $0.direction = .push
            $0.collections = [CollectionConfiguration("_default", pushFilter: { rev in
                let body = try rev.decode(as: Draft.self)
                if body.boom == true { throw FilterBug() }
                return body.draft != true
            })]
        }
        let pending = try await replicator.pendingDocumentIDs()
        XCTAssertEqual(pending, ["final"])
        try await replicator.run()
        let hubDocs = try await hub.defaultCollection()
        let final = try await hubDocs.document("final")
        let draft = try await hubDocs.document("draft")
        let explodes = try await hubDocs.document("explodes")
        XCTAssertNotNil(final)
        XCTAssertNil(draft)
        XCTAssertNil(explodes)
        let stillPending = try await replicator.isDocumentPending("final")
        XCTAssertFalse(stillPending)
    }

    func testTenThousandDocumentsReplicateBetweenTwoDatabases() async throws {
        let dir = try temporaryDirectory(self)
        let phone = try await openDb(dir, "phone.db")
        let hub = try await openDb(dir, "hub.db")
        let docs = try await writeChildren(phone, hub, count: 10_000)
        let replicator = try phone.replicator(to: .database(hub)) { $0.collections = [CollectionConfiguration("children")] }
        try await replicator.run()
        XCTAssertEqual(replicator.status.activity, .stopped)
        XCTAssertNil(replicator.status.error)
        try await assertChildrenCopied(docs, to: hub.collection("children"), count: 10_000)
    }

    func testConflictWithoutAResolverKeepsTheDefaultWinnerOnBothSides() async throws {
        let dir = try temporaryDirectory(self)
        let a = try await openDb(dir, "a.db")
        let b = try await openDb(dir, "b.db")
        let aDocs = try await a.defaultCollection()
        let bDocs = try await b.defaultCollection()
        let base = try await aDocs.save("d", json: #"{"v":0}"#)
        try await a.replicator(to: .database(b)).run()
        try await aDocs.save("d", json: #"{"v":1}"#, rev: base)
        try await bDocs.save("d", json: #"{"v":2}"#, rev: base)
        try await a.replicator(to: .database(b)).run()
        try await b.replicator(to: .database(a)).run()
        let inA = try await aDocs.document("d")
        let inB = try await bDocs.document("d")
        XCTAssertEqual(inA?.rev, inB?.rev)
        XCTAssertEqual(inA?.json, inB?.json)
    }

    func testARunningReplicatorWhoseLastReferenceIsReleasedKeepsReplicating() async throws {
        let dir = try temporaryDirectory(self)
        let phone = try await openDb(dir, "phone.db")
        let hub = try await openDb(dir, "hub.db")
        var replicator: Replicator? = try phone.replicator(to: .database(hub)) { $0.continuous = true }
        let stopped = Recorder<ReplicatorStatus>()
        let token = replicator!.addChangeListener(queue: callbacks) { status in
            if status.activity == .stopped { stopped.append(status) }
        }
        let statuses = replicator!.statusStream()
        try replicator!.start()
        _ = try await withTimeout {
            for await status in statuses where status.activity == .idle { return status }
            throw TimedOut()
        }
        replicator = nil  // the last reference: the runtime keeps it running until it stops
        let arrived = try await hub.defaultCollection().documentChangeStream("after-release")
        try await phone.defaultCollection().save("after-release", json: "{}")
        _ = try await first(1, of: arrived)
        drainCallbacks()
        XCTAssertTrue(stopped.all.isEmpty, "releasing a replicator must not stop it")
        token.remove()
        // Nothing can stop it now (that is the point): it idles until the test process exits.
    }
}
