// Camp hubs in one process: hub A serves its database to its stored system
// users; hub B's replication manager runs A as a configured server (mirrors
// tests/kotlin HubTest).
import Foundation
import XCTest
import Outpost

final class HubTests: XCTestCase {
    /// Hub A: `camp-b` as a stored system user, served on 127.0.0.1.
    private func startHubA(_ a: Database) async throws -> (SystemUsers, Listener) {
        let users = try await SystemUsers.open(in: a)
        try await users.add("camp-b", password: "camp b password", role: .sync)
        var config = ListenerConfig(authenticator: .systemUsers(users))
        config.networkInterface = "127.0.0.1"
        return (users, try await Listener.start(database: a, config: config))
    }

    /// The first statuses of `manager` for which `condition` holds.
    private func statuses(
        of manager: ReplicationManager, where condition: @escaping @Sendable ([ServerStatus]) -> Bool
    ) async throws -> [ServerStatus] {
        let stream = manager.statusStream()
        return try await withTimeout {
            for await statuses in stream where condition(statuses) { return statuses }
            throw TimedOut()
        }
    }

    func testAConfiguredServerReplicatesIsRestartedOnOpenAndStopsWhenRemoved() async throws {
        let dir = try temporaryDirectory(self)
        let a = try await openDb(dir, "camp-a.db")
        let b = try await openDb(dir, "camp-b.db")
        let (users, listener) = try await startHubA(a)
        let listed = try await users.list()
        XCTAssertEqual(listed.map(\.name), ["camp-b"])
        try await a.defaultCollection().save("child-1", json: #"{"name":"Amina"}"#)

        let keys = dir.appendingPathComponent("keys").path
        let manager = try await ReplicationManager.open(in: b, keyStoreDirectory: keys)
        let server = ConfiguredServer(
            name: "camp-a", url: listener.urls[0], username: "camp-b",
            serverTrust: .pinnedFingerprint(listener.fingerprint ?? ""))
        try await manager.add(server, password: "camp b password")
        let servers = try await manager.servers()
        XCTAssertEqual(servers, [server])
        let idle = try await statuses(of: manager) { $0.first?.state == .idle }
        XCTAssertNil(idle[0].error)
        let copied = try await b.defaultCollection().document("child-1")
        XCTAssertEqual(copied?.json, #"{"name":"Amina"}"#)

        await manager.stop()
        let stopped = try await manager.statuses()
        XCTAssertEqual(stopped.map(\.state), [.stopped])
        try await a.defaultCollection().save("child-2", json: #"{"name":"Juma"}"#)
        let reopened = try await ReplicationManager.open(in: b, keyStoreDirectory: keys)
        _ = try await statuses(of: reopened) { $0.first?.state == .idle }
        let second = try await b.defaultCollection().document("child-2")
        XCTAssertEqual(second?.json, #"{"name":"Juma"}"#)

        let removed = try await reopened.remove("camp-a")
        XCTAssertTrue(removed)
        _ = try await statuses(of: reopened) { $0.isEmpty }
        await reopened.stop()
        await listener.stop()
    }

    func testAWrongPasswordIsAnErrorUntilTheServerIsAddedAgain() async throws {
        let dir = try temporaryDirectory(self)
        let a = try await openDb(dir, "camp-a.db")
        let b = try await openDb(dir, "camp-b.db")
        let (_, listener) = try await startHubA(a)
        let manager = try await ReplicationManager.open(in: b, keyStoreDirectory: dir.appendingPathComponent("keys").path)
        let server = ConfiguredServer(
            name: "camp-a", url: listener.urls[0], username: "camp-b", serverTrust: .selfSignedOnly, direction: .pull)
        try await manager.add(server, password: "wrong")
        let failed = try await statuses(of: manager) { $0.first?.state == .error }
        XCTAssertNotNil(failed[0].error)
        XCTAssertNotNil(failed[0].nextRetry)
        try await manager.add(server, password: "camp b password")
        _ = try await statuses(of: manager) { $0.first?.state == .idle }
        await manager.stop()
        await listener.stop()
    }
}
