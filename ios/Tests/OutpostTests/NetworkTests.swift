// Network sync through the public Swift API (mirrors tests/kotlin NetworkTest and
// LogTest): a Listener and replicators in one process over TLS on loopback, with
// every refusal surfacing as its own error case.
import Foundation
import XCTest
import Outpost

final class NetworkTests: XCTestCase {
    private func workerOnly() async throws -> ListenerAuthenticator {
        try await .users(["worker": "correct horse"])
    }

    /// Starts a TLS listener on loopback serving `hub`.
    private func startListener(
        _ hub: Database, _ authenticator: ListenerAuthenticator, readOnly: Bool = false, collections: [String] = []
    ) async throws -> Listener {
        var config = ListenerConfig(authenticator: authenticator)
        config.collections = collections
        config.networkInterface = "127.0.0.1"
        config.readOnly = readOnly
        return try await Listener.start(database: hub, config: config)
    }

    /// A replicator of `phone` logging in to `listener` as the worker.
    private func worker(_ phone: Database, _ listener: Listener, password: String = "correct horse",
                        trust: ServerTrust = .selfSignedOnly,
                        _ configure: (inout ReplicatorConfiguration) -> Void = { _ in }) throws -> Replicator {
        try phone.replicator(to: .url(listener.urls[0])) {
            $0.authentication = .basic(username: "worker", password: password)
            $0.serverTrust = trust
            configure(&$0)
        }
    }

    func testListenerAndReplicatorSyncBothWaysOverTlsWithBasicAuth() async throws {
        let (phone, hub) = try await openPhoneAndHub(self)
        try await phone.defaultCollection().save("child-1", json: #"{"name":"Amina"}"#)
        try await hub.defaultCollection().save("notice-1", json: #"{"text":"water at 10"}"#)
        let listener = try await startListener(hub, await workerOnly())
        XCTAssertTrue(listener.urls[0].hasPrefix("wss://127.0.0.1:\(listener.port)/"))
        XCTAssertTrue(listener.fingerprint?.hasPrefix("sha256:") ?? false)

        let replicator = try worker(phone, listener)
        try await withTimeout { try await replicator.run() }
        XCTAssertNil(replicator.status.error)
        let child = try await hub.defaultCollection().document("child-1")
        let notice = try await phone.defaultCollection().document("notice-1")
        XCTAssertEqual(child?.json, #"{"name":"Amina"}"#)
        XCTAssertEqual(notice?.json, #"{"text":"water at 10"}"#)
        XCTAssertGreaterThanOrEqual(listener.connectionStatus.totalAccepted, 1)
        XCTAssertEqual(listener.connectionStatus.handshaking, 0)
        await listener.stop()
    }

    func testAListenerWhoseLastReferenceIsReleasedKeepsServing() async throws {
        let (phone, hub) = try await openPhoneAndHub(self)
        try await hub.defaultCollection().save("notice-1", json: "{}")
        var listener: Listener? = try await startListener(hub, await workerOnly())
        let url = listener!.urls[0]
        let fingerprint = listener!.fingerprint!
        listener = nil  // the last reference: the runtime keeps it serving until stop()
        let replicator = try phone.replicator(to: .url(url)) {
            $0.authentication = .basic(username: "worker", password: "correct horse")
            $0.serverTrust = .pinnedFingerprint(fingerprint)
        }
        try await withTimeout { try await replicator.run() }
        let count = try await phone.defaultCollection().count()
        XCTAssertEqual(count, 1, "the listener must still serve after its handle is released")
    }

    func testContinuousReplicationOverTlsReachesIdleFollowsNewWritesAndStops() async throws {
        let (phone, hub) = try await openPhoneAndHub(self)
        let listener = try await startListener(hub, await workerOnly())
        let replicator = try worker(phone, listener, trust: .pinnedFingerprint(listener.fingerprint!)) {
            $0.continuous = true
            $0.heartbeat = .seconds(10)
        }
        try await assertContinuousSyncFollowsWritesAndStops(replicator, phone: phone, hub: hub)
        XCTAssertEqual(listener.connectionStatus.totalAccepted, 1)
        await listener.stop()
    }

    func testWrongPasswordThrowsAuthAndNoDocumentCrosses() async throws {
        let (phone, hub) = try await openPhoneAndHub(self)
        try await phone.defaultCollection().save("child-1", json: "{}")
        let listener = try await startListener(hub, await workerOnly())
        let replicator = try worker(phone, listener, password: "wrong horse")
        guard case .auth(let message) = try await failure(of: replicator) else { return XCTFail("not an auth error") }
        XCTAssertFalse(message.contains("wrong horse"))
        XCTAssertEqual(replicator.status.activity, .stopped)
        // The status keeps the same error, typed.
        XCTAssertEqual(replicator.status.error, .auth(message))
        let count = try await hub.defaultCollection().count()
        XCTAssertEqual(count, 0)
        await listener.stop()
    }

    func testPinnedFingerprintMismatchThrowsTls() async throws {
        let (phone, hub) = try await openPhoneAndHub(self)
        try await phone.defaultCollection().save("child-1", json: "{}")
        let listener = try await startListener(hub, await workerOnly())
        let stranger = try await TlsIdentity.generateSelfSigned()
        XCTAssertNotEqual(listener.fingerprint, stranger.fingerprint)
        let replicator = try worker(phone, listener, trust: .pinnedFingerprint(stranger.fingerprint))
        guard case .tls = try await failure(of: replicator) else { return XCTFail("not a tls error") }
        let count = try await hub.defaultCollection().count()
        XCTAssertEqual(count, 0)
        await listener.stop()
    }

    func testReadOnlyListenerRefusesPushButServesPull() async throws {
        let (phone, hub) = try await openPhoneAndHub(self)
        try await phone.defaultCollection().save("child-1", json: "{}")
        try await hub.defaultCollection().save("notice-1", json: #"{"text":"hello"}"#)
        let listener = try await startListener(hub, await workerOnly(), readOnly: true)
        guard case .readOnly(let message) = try await failure(of: worker(phone, listener)) else { return XCTFail("not a readOnly error") }
        XCTAssertTrue(message.contains("pull only"), message)
        let pushed = try await hub.defaultCollection().document("child-1")
        XCTAssertNil(pushed)
        let pulling = try worker(phone, listener) { $0.direction = .pull }
        try await withTimeout { try await pulling.run() }
        let notice = try await phone.defaultCollection().document("notice-1")
        XCTAssertEqual(notice?.json, #"{"text":"hello"}"#)
        await listener.stop()
    }

    func testSwiftPasswordAuthenticatorIsCalledAndAThrowingOneRefuses() async throws {
        struct AccountsDown: Error {}
        let (phone, hub) = try await openPhoneAndHub(self)
        try await phone.defaultCollection().save("child-1", json: "{}")
        let calls = Recorder<String>()
        let listener = try await startListener(hub, .password { user, password in
            calls.append(user)
            if user == "crash" { throw AccountsDown() }
            return user == "hub" && password == "s3cret"
        })
        func replicatorAs(_ user: String, _ password: String) throws -> Replicator {
            try phone.replicator(to: .url(listener.urls[0])) {
                $0.authentication = .basic(username: user, password: password)
                $0.serverTrust = .pinnedFingerprint(listener.fingerprint!)
            }
        }
        for (user, password) in [("crash", "s3cret"), ("hub", "guess")] {
            guard case .auth = try await failure(of: replicatorAs(user, password)) else { return XCTFail("\(user) not refused") }
        }
        XCTAssertEqual(calls.all, ["crash", "hub"])
        var count = try await hub.defaultCollection().count()
        XCTAssertEqual(count, 0)
        let accepted = try replicatorAs("hub", "s3cret")
        try await withTimeout { try await accepted.run() }
        count = try await hub.defaultCollection().count()
        XCTAssertEqual(count, 1)
        await listener.stop()
    }

    func testTenThousandDocumentsSyncOverTls() async throws {
        let (phone, hub) = try await openPhoneAndHub(self)
        let docs = try await writeChildren(phone, hub, count: 10_000)
        let listener = try await startListener(hub, await workerOnly(), collections: ["children"])
        let replicator = try worker(phone, listener, trust: .pinnedFingerprint(listener.fingerprint!)) {
            $0.direction = .push
            $0.collections = [CollectionConfiguration("children")]
        }
        try await withTimeout { try await replicator.run() }
        XCTAssertNil(replicator.status.error)
        try await assertChildrenCopied(docs, to: hub.collection("children"), count: 10_000)
        await listener.stop()
    }

    func testStoredIdentityKeepsItsFingerprintAcrossRestarts() async throws {
        let dir = try temporaryDirectory(self)
        let hub = try await openDb(dir, "hub.db")
        var config = try await ListenerConfig(authenticator: workerOnly())
        config.networkInterface = "127.0.0.1"
        config.identityLabel = "hub"
        config.keyStoreDirectory = dir.appendingPathComponent("keys").path
        let first = try await Listener.start(database: hub, config: config)
        let fingerprint = first.fingerprint
        await first.stop()
        let second = try await Listener.start(database: hub, config: config)
        XCTAssertEqual(second.fingerprint, fingerprint)
        await second.stop()
        let identity = try await TlsIdentity.generateSelfSigned(names: ["hub.local"])
        XCTAssertEqual(TlsIdentity.fingerprint(of: identity.certificate), identity.fingerprint)
    }

    func testKeychainSavesLoadsAndDeletesIdentities() async throws {
        let label = "test-\(UUID().uuidString.prefix(8))"
        var loaded = try await TlsIdentity.load(label: label)
        XCTAssertNil(loaded)
        let identity = try await TlsIdentity.generateSelfSigned()
        try await identity.save(label: label)
        loaded = try await TlsIdentity.load(label: label)
        XCTAssertEqual(loaded?.fingerprint, identity.fingerprint)
        try await TlsIdentity.delete(label: label)
        loaded = try await TlsIdentity.load(label: label)
        XCTAssertNil(loaded)
        try await TlsIdentity.delete(label: label)
    }

    func testIdentityLabelAloneIsKeptInTheKeychain() async throws {
        let (_, hub) = try await openPhoneAndHub(self)
        var config = try await ListenerConfig(authenticator: workerOnly())
        config.networkInterface = "127.0.0.1"
        config.identityLabel = "test-\(UUID().uuidString.prefix(8))"
        let first = try await Listener.start(database: hub, config: config)
        let fingerprint = first.fingerprint
        await first.stop()
        let second = try await Listener.start(database: hub, config: config)
        XCTAssertEqual(second.fingerprint, fingerprint, "the Keychain item survives a restart")
        await second.stop()
    }

    func testTheLogSinkReceivesAReplicatorsAuthErrorWithoutThePassword() async throws {
        struct Record: Sendable { let level: OutpostLog.Level; let domain: String; let message: String }
        let records = Recorder<Record>()
        OutpostLog.level = .verbose
        OutpostLog.sink = { level, domain, message in records.append(Record(level: level, domain: domain, message: message)) }
        defer { OutpostLog.sink = nil; OutpostLog.level = .warning }
        let (phone, hub) = try await openPhoneAndHub(self)
        try await phone.defaultCollection().save("child-1", json: "{}")
        let listener = try await startListener(hub, await workerOnly())
        guard case .auth = try await failure(of: worker(phone, listener, password: "wrong horse")) else {
            return XCTFail("not an auth error")
        }
        XCTAssertTrue(records.all.contains { $0.level == .warning && $0.message.contains("replication stopped") })
        XCTAssertFalse(records.all.contains { $0.message.contains("horse") }, "a password was logged")
        await listener.stop()
    }

    func testBadListenerAndTargetConfigurationsAreTypedErrors() async throws {
        let (phone, hub) = try await openPhoneAndHub(self)
        var missing = ListenerConfig(authenticator: .anonymous)
        missing.collections = ["missing"]
        do {
            _ = try await Listener.start(database: hub, config: missing)
            XCTFail("a missing collection was served")
        } catch OutpostError.collectionNotFound {}
        XCTAssertThrowsError(try phone.replicator(to: .url("ftp://example.org/db")))
        let unreachable = try phone.replicator(to: .url("wss://127.0.0.1:1/db")) {
            $0.serverTrust = .selfSignedOnly
            $0.maxAttempts = 1
        }
        guard case .network = try await failure(of: unreachable) else { return XCTFail("not a network error") }
    }
}
