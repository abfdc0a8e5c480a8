// Network sync through the Swift API (mirrors tests/kotlin NetworkTest): a
// Listener and replicators in one process over TLS on loopback, with every
// refusal surfacing as its own error case.
import Foundation
import XCTest
@testable import Outpost

final class NetworkTests: XCTestCase {
    private func workerOnly() async throws -> ListenerAuthenticator {
        try await usersAuthenticator(["worker": "correct horse"])
    }

    /// Starts a TLS listener on loopback serving `hub`.
    private func startListener(
        _ hub: Database, _ authenticator: ListenerAuthenticator, readOnly: Bool = false, collections: [String] = []
    ) async throws -> Listener {
        try await Listener.start(database: hub, config: ListenerConfig(
            authenticator: authenticator, collections: collections, networkInterface: "127.0.0.1", readOnly: readOnly))
    }

    private func worker(_ listener: Listener, password: String = "correct horse",
                        trust: ServerTrust = .selfSignedOnly) throws -> ReplicatorTarget {
        try .url(listener.urls()[0], authentication: .basic(username: "worker", password: password), trust: trust)
    }

    func testListenerAndReplicatorSyncBothWaysOverTlsWithBasicAuth() async throws {
        let (phone, hub) = try openPhoneAndHub(self)
        _ = try phone.defaultCollection().save(id: "child-1", rev: nil, body: #"{"name":"Amina"}"#)
        _ = try hub.defaultCollection().save(id: "notice-1", rev: nil, body: #"{"text":"water at 10"}"#)
        let listener = try await startListener(hub, await workerOnly())
        XCTAssertTrue(listener.urls()[0].hasPrefix("wss://127.0.0.1:\(listener.port())/"))
        XCTAssertTrue(listener.fingerprint()?.hasPrefix("sha256:") ?? false)

        let replicator = try phone.replicator(to: worker(listener))
        try await withTimeout { try await replicator.run() }
        XCTAssertNil(replicator.status().error)
        XCTAssertEqual(try hub.defaultCollection().get(id: "child-1")?.body, #"{"name":"Amina"}"#)
        XCTAssertEqual(try phone.defaultCollection().get(id: "notice-1")?.body, #"{"text":"water at 10"}"#)
        XCTAssertGreaterThanOrEqual(listener.connectionStatus().totalAccepted, 1)
        await listener.stop()
    }

    func testContinuousReplicationOverTlsReachesIdleFollowsNewWritesAndStops() async throws {
        let (phone, hub) = try openPhoneAndHub(self)
        let listener = try await startListener(hub, await workerOnly())
        let replicator = try phone.replicator(to: worker(listener, trust: .pinnedFingerprint(fingerprint: listener.fingerprint()!)),
                                              config: ReplicatorConfig(continuous: true))
        try await assertContinuousSyncFollowsWritesAndStops(replicator, phone: phone, hub: hub)
        XCTAssertEqual(listener.connectionStatus().totalAccepted, 1)
        await listener.stop()
    }

    func testWrongPasswordThrowsAuthAndNoDocumentCrosses() async throws {
        let (phone, hub) = try openPhoneAndHub(self)
        _ = try phone.defaultCollection().save(id: "child-1", rev: nil, body: "{}")
        let listener = try await startListener(hub, await workerOnly())
        let replicator = try phone.replicator(to: worker(listener, password: "wrong horse"))
        guard case .Auth(let message) = try await failure(of: replicator) else { return XCTFail("not an Auth error") }
        XCTAssertFalse(message.contains("wrong horse"))
        XCTAssertEqual(replicator.status().activity, .stopped)
        // The status keeps the same error, typed.
        guard case .Auth(let kept) = replicator.status().error?.asError else { return XCTFail("status error not Auth") }
        XCTAssertEqual(kept, message)
        XCTAssertEqual(try hub.defaultCollection().count(), 0)
        await listener.stop()
    }

    func testPinnedFingerprintMismatchThrowsTls() async throws {
        let (phone, hub) = try openPhoneAndHub(self)
        _ = try phone.defaultCollection().save(id: "child-1", rev: nil, body: "{}")
        let listener = try await startListener(hub, await workerOnly())
        let stranger = try TlsIdentity.generateSelfSigned(names: [])
        XCTAssertNotEqual(listener.fingerprint(), stranger.fingerprint())
        let replicator = try phone.replicator(to: worker(listener, trust: .pinnedFingerprint(fingerprint: stranger.fingerprint())))
        guard case .Tls = try await failure(of: replicator) else { return XCTFail("not a Tls error") }
        XCTAssertEqual(try hub.defaultCollection().count(), 0)
        await listener.stop()
    }

    func testReadOnlyListenerRefusesPushButServesPull() async throws {
        let (phone, hub) = try openPhoneAndHub(self)
        _ = try phone.defaultCollection().save(id: "child-1", rev: nil, body: "{}")
        _ = try hub.defaultCollection().save(id: "notice-1", rev: nil, body: #"{"text":"hello"}"#)
        let listener = try await startListener(hub, await workerOnly(), readOnly: true)
        let pushing = try phone.replicator(to: worker(listener))
        guard case .ReadOnly(let message) = try await failure(of: pushing) else { return XCTFail("not a ReadOnly error") }
        XCTAssertTrue(message.contains("pull only"), message)
        XCTAssertNil(try hub.defaultCollection().get(id: "child-1"))
        let pulling = try phone.replicator(to: worker(listener), config: ReplicatorConfig(direction: .pull))
        try await withTimeout { try await pulling.run() }
        XCTAssertEqual(try phone.defaultCollection().get(id: "notice-1")?.body, #"{"text":"hello"}"#)
        await listener.stop()
    }

    func testSwiftPasswordAuthenticatorIsCalledAndAThrowingOneRefuses() async throws {
        struct AccountsDown: Error {}
        let (phone, hub) = try openPhoneAndHub(self)
        _ = try phone.defaultCollection().save(id: "child-1", rev: nil, body: "{}")
        let calls = Recorder<String>()
        let listener = try await startListener(hub, passwordAuthenticator { user, password in
            calls.append(user)
            if user == "crash" { throw AccountsDown() }
            return user == "hub" && password == "s3cret"
        })
        func replicatorAs(_ user: String, _ password: String) throws -> Replicator {
            try phone.replicator(to: .url(listener.urls()[0], authentication: .basic(username: user, password: password),
                                          trust: .pinnedFingerprint(fingerprint: listener.fingerprint()!)))
        }
        for (user, password) in [("crash", "s3cret"), ("hub", "guess")] {
            guard case .Auth = try await failure(of: replicatorAs(user, password)) else { return XCTFail("\(user) not refused") }
        }
        XCTAssertEqual(calls.all, ["crash", "hub"])
        XCTAssertEqual(try hub.defaultCollection().count(), 0)
        let accepted = try replicatorAs("hub", "s3cret")
        try await withTimeout { try await accepted.run() }
        XCTAssertEqual(try hub.defaultCollection().count(), 1)
        await listener.stop()
    }

    func testTenThousandDocumentsSyncOverTls() async throws {
        let (phone, hub) = try openPhoneAndHub(self)
        let docs = try await writeChildren(phone, hub, count: 10_000)
        let listener = try await startListener(hub, await workerOnly(), collections: ["children"])
        let replicator = try phone.replicator(
            to: worker(listener, trust: .pinnedFingerprint(fingerprint: listener.fingerprint()!)),
            config: ReplicatorConfig(direction: .push, collections: [CollectionReplication(name: "children")]))
        try await withTimeout { try await replicator.run() }
        XCTAssertNil(replicator.status().error)
        XCTAssertEqual(try hub.collection(name: "children").count(), 10_000)
        XCTAssertEqual(try hub.collection(name: "children").get(id: "child-09999")?.body, #"{"i":9999}"#)
        XCTAssertEqual(try hub.collection(name: "children").get(id: "child-09999")?.rev, try docs.get(id: "child-09999")?.rev)
        await listener.stop()
    }

    func testStoredIdentityKeepsItsFingerprintAcrossRestarts() async throws {
        let dir = try temporaryDirectory(self)
        let hub = try openDb(dir, "hub.db")
        let config = try await ListenerConfig(authenticator: workerOnly(), networkInterface: "127.0.0.1",
                                        identityLabel: "hub", keyStoreDirectory: dir.appendingPathComponent("keys").path)
        let first = try await Listener.start(database: hub, config: config)
        let fingerprint = first.fingerprint()
        await first.stop()
        let second = try await Listener.start(database: hub, config: config)
        XCTAssertEqual(second.fingerprint(), fingerprint)
        await second.stop()
        let identity = try TlsIdentity.generateSelfSigned(names: ["hub.local"])
        XCTAssertEqual(certificateFingerprint(certificate: identity.certificate()), identity.fingerprint())
    }

    func testKeychainSavesLoadsAndDeletesIdentities() throws {
        let label = "test-\(UUID().uuidString.prefix(8))"
        XCTAssertNil(try loadStoredIdentity(label: label))
        let identity = try TlsIdentity.generateSelfSigned(names: [])
        try saveStoredIdentity(label: label, identity: identity)
        XCTAssertEqual(try loadStoredIdentity(label: label)?.fingerprint(), identity.fingerprint())
        try deleteStoredIdentity(label: label)
        XCTAssertNil(try loadStoredIdentity(label: label))
        try deleteStoredIdentity(label: label)
    }

    func testIdentityLabelAloneIsKeptInTheKeychain() async throws {
        let (_, hub) = try openPhoneAndHub(self)
        let label = "test-\(UUID().uuidString.prefix(8))"
        let config = try await ListenerConfig(authenticator: workerOnly(), networkInterface: "127.0.0.1", identityLabel: label)
        let first = try await Listener.start(database: hub, config: config)
        let fingerprint = first.fingerprint()
        await first.stop()
        let second = try await Listener.start(database: hub, config: config)
        XCTAssertEqual(second.fingerprint(), fingerprint, "the Keychain item survives a restart")
        await second.stop()
    }

    func testTheLogSinkReceivesAReplicatorsAuthErrorWithoutThePassword() async throws {
        struct Record: Sendable { let level: LogLevel; let domain: String; let message: String }
        let records = Recorder<Record>()
        OutpostLog.level = .verbose
        OutpostLog.sink = { level, domain, message in records.append(Record(level: level, domain: domain, message: message)) }
        defer { OutpostLog.sink = nil; OutpostLog.level = .warning }
        let (phone, hub) = try openPhoneAndHub(self)
        _ = try phone.defaultCollection().save(id: "child-1", rev: nil, body: "{}")
        let listener = try await startListener(hub, await workerOnly())
        guard case .Auth = try await failure(of: phone.replicator(to: worker(listener, password: "wrong horse"))) else {
            return XCTFail("not an Auth error")
        }
        XCTAssertTrue(records.all.contains { $0.level == .warning && $0.message.contains("replication stopped") })
        XCTAssertFalse(records.all.contains { $0.message.contains("horse") }, "a password was logged")
        await listener.stop()
    }

    func testBadListenerAndTargetConfigurationsAreTypedErrors() async throws {
        let (phone, hub) = try openPhoneAndHub(self)
        do {
            _ = try await Listener.start(database: hub, config: ListenerConfig(
                authenticator: .anonymous(), collections: ["missing"]))
            XCTFail("a missing collection was served")
        } catch OutpostError.CollectionNotFound {}
        XCTAssertThrowsError(try phone.replicator(to: .url("http://example.org/db")))
        let unreachable = try phone.replicator(to: .url("wss://127.0.0.1:1/db", trust: .selfSignedOnly),
                                               config: ReplicatorConfig(maxAttempts: 1))
        guard case .Network = try await failure(of: unreachable) else { return XCTFail("not a Network error") }
    }
}
