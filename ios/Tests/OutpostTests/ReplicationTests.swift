// Local-to-local replication through the Swift API (mirrors tests/kotlin
// ReplicationTest): status streams, conflicts with a Swift resolver,
// filters, pending documents, volume.
import Foundation
import XCTest
@testable import Outpost

final class ReplicationTests: XCTestCase {
    func testOneShotStatusStreamEndsStopped() async throws {
        let dir = try temporaryDirectory(self)
        let phone = try openDb(dir, "phone.db")
        let hub = try openDb(dir, "hub.db")
        for i in 0..<5 { _ = try phone.defaultCollection().save(id: "child-\(i)", rev: nil, body: #"{"i":\#(i)}"#) }
        let replicator = try phone.replicator(to: .localDatabase(database: hub))
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
        XCTAssertEqual(try hub.defaultCollection().count(), 5)
    }

    func testContinuousReplicationReachesIdleFollowsNewWritesAndStops() async throws {
        let dir = try temporaryDirectory(self)
        let phone = try openDb(dir, "phone.db")
        let hub = try openDb(dir, "hub.db")
        let replicator = try phone.replicator(to: .localDatabase(database: hub), config: ReplicatorConfig(continuous: true))
        try await assertContinuousSyncFollowsWritesAndStops(replicator, phone: phone, hub: hub)
    }

    func testSwiftConflictResolverIsCalledDuringPullAndItsMergeIsKept() async throws {
        let dir = try temporaryDirectory(self)
        let phone = try openDb(dir, "phone.db")
        let hub = try openDb(dir, "hub.db")
        let base = try phone.defaultCollection().save(id: "child-1", rev: nil, body: #"{"name":"Amina"}"#)
        try await phone.replicator(to: .localDatabase(database: hub)).run()
        _ = try phone.defaultCollection().save(id: "child-1", rev: base, body: #"{"name":"Amina","camp":"north"}"#)
        _ = try hub.defaultCollection().save(id: "child-1", rev: base, body: #"{"name":"Amina","age":7}"#)

        let seen = Recorder<Conflict>()
        let resolver = conflictResolver { conflict in
            seen.append(conflict)
            // Deterministic merge: the union of both sides' fields.
            let fields = Set(conflict.revisions.flatMap { $0.body.dropFirst().dropLast().split(separator: ",").map(String.init) })
            return .merge(body: "{" + fields.sorted().joined(separator: ",") + "}")
        }
        let config = ReplicatorConfig(direction: .pull, collections: [CollectionReplication(name: "_default", conflictResolver: resolver)])
        try await phone.replicator(to: .localDatabase(database: hub), config: config).run()
        XCTAssertEqual(seen.all.count, 1)
        XCTAssertEqual(seen.all.first?.revisions.count, 2)
        let merged = try phone.defaultCollection().get(id: "child-1")
        XCTAssertEqual(merged?.body, #"{"age":7,"camp":"north","name":"Amina"}"#)
        XCTAssertEqual(merged?.conflicts, [])
    }

    func testPushFilterKeepsDraftsBackAndAThrowingFilterFailsClosed() async throws {
        struct FilterBug: Error {}
        let dir = try temporaryDirectory(self)
        let phone = try openDb(dir, "phone.db")
        let hub = try openDb(dir, "hub.db")
        let docs = try phone.defaultCollection()
        _ = try docs.save(id: "final", rev: nil, body: #"{"draft":false}"#)
        _ = try docs.save(id: "draft", rev: nil, body: #"{"draft":true}"#)
        _ = try docs.save(id: "explodes", rev: nil, body: #"{"boom":true}"#)
        let filter = replicationFilter { rev in
            if rev.body.contains("boom") { throw FilterBug() }
            return !rev.body.contains(#""draft":true"#)
        }
        let config = ReplicatorConfig(direction: .push, collections: [CollectionReplication(name: "_default", pushFilter: filter)])
        let replicator = try phone.replicator(to: .localDatabase(database: hub), config: config)
        let pending = try await replicator.pendingDocumentIds(collection: "_default")
        XCTAssertEqual(pending, ["final"])
        try await replicator.run()
        XCTAssertNotNil(try hub.defaultCollection().get(id: "final"))
        XCTAssertNil(try hub.defaultCollection().get(id: "draft"))
        XCTAssertNil(try hub.defaultCollection().get(id: "explodes"))
    }

    func testTenThousandDocumentsReplicateBetweenTwoDatabases() async throws {
        let dir = try temporaryDirectory(self)
        let phone = try openDb(dir, "phone.db")
        let hub = try openDb(dir, "hub.db")
        let docs = try await writeChildren(phone, hub, count: 10_000)
        let config = ReplicatorConfig(collections: [CollectionReplication(name: "children")])
        let replicator = try phone.replicator(to: .localDatabase(database: hub), config: config)
        try await replicator.run()
        XCTAssertEqual(replicator.status().activity, .stopped)
        XCTAssertNil(replicator.status().error)
        XCTAssertEqual(try hub.collection(name: "children").count(), 10_000)
        XCTAssertEqual(try hub.collection(name: "children").get(id: "child-09999")?.rev, try docs.get(id: "child-09999")?.rev)
    }
    func testConflictWithoutAResolverKeepsTheDefaultWinnerOnBothSides() async throws {
        let dir = try temporaryDirectory(self)
        let a = try openDb(dir, "a.db")
        let b = try openDb(dir, "b.db")
        let base = try a.defaultCollection().save(id: "d", rev: nil, body: #"{"v":0}"#)
        try await a.replicator(to: .localDatabase(database: b)).run()
        _ = try a.defaultCollection().save(id: "d", rev: base, body: #"{"v":1}"#)
        _ = try b.defaultCollection().save(id: "d", rev: base, body: #"{"v":2}"#)
        try await a.replicator(to: .localDatabase(database: b)).run()
        try await b.replicator(to: .localDatabase(database: a)).run()
        XCTAssertEqual(try a.defaultCollection().get(id: "d")?.rev, try b.defaultCollection().get(id: "d")?.rev)
        XCTAssertEqual(try a.defaultCollection().get(id: "d")?.body, try b.defaultCollection().get(id: "d")?.body)
    }

    func testARunningReplicatorWhoseLastReferenceIsReleasedKeepsReplicating() async throws {
        let dir = try temporaryDirectory(self)
        let phone = try openDb(dir, "phone.db")
        let hub = try openDb(dir, "hub.db")
        var replicator: Replicator? = try phone.replicator(to: .localDatabase(database: hub), config: ReplicatorConfig(continuous: true))
        let stopped = Recorder<ReplicatorStatus>()
        let handle = replicator!.addStatusListener(listener: ClosureStatusListener { status in
            if status.activity == .stopped { stopped.append(status) }
        })
        let statuses = replicator!.statusStream()
        try replicator!.start()
        _ = try await withTimeout {
            for await status in statuses where status.activity == .idle { return status }
            throw TimedOut()
        }
        replicator = nil  // the last reference: the runtime keeps it running until it stops
        let arrived = try hub.defaultCollection().documentChangeStream("after-release")
        try await phone.defaultCollection().save("after-release", body: "{}")
        _ = try await first(1, of: arrived)
        XCTAssertTrue(stopped.all.isEmpty, "releasing a replicator must not stop it")
        handle.cancel()
        // Nothing can stop it now (that is the point): it idles until the test process exits.
    }
}
