// The listener (passive peer) that serves a database to other devices, its
// authenticators, and TLS identities.
@_implementationOnly import OutpostBindings
import Foundation

/// A TLS certificate and its private key, for a listener or a client certificate.
public final class TlsIdentity: @unchecked Sendable {
    let ffi: OutpostBindings.TlsIdentity

    init(_ ffi: OutpostBindings.TlsIdentity) { self.ffi = ffi }

    /// A new self-signed identity for these DNS names or IP addresses.
    public static func generateSelfSigned(names: [String] = []) async throws -> TlsIdentity {
        try await detached { TlsIdentity(try OutpostBindings.TlsIdentity.generateSelfSigned(names: names)) }
    }

    /// An identity from PEM text: the certificate chain (leaf first) and its private key.
    public convenience init(pemCertificates: String, privateKey: String) throws {
        self.init(try rethrowing { try OutpostBindings.TlsIdentity.fromPem(certificates: pemCertificates, privateKey: privateKey) })
    }

    /// The identity stored under `label` (platform key store, or `keyStoreDirectory`), or nil.
    public static func load(label: String, keyStoreDirectory: String? = nil) async throws -> TlsIdentity? {
        try await detached { try loadStoredIdentity(label: label, keyStoreDirectory: keyStoreDirectory).map(TlsIdentity.init) }
    }

    /// Deletes the identity stored under `label` (nothing if there is none).
    public static func delete(label: String, keyStoreDirectory: String? = nil) async throws {
        try await detached { try deleteStoredIdentity(label: label, keyStoreDirectory: keyStoreDirectory) }
    }

    /// Stores this identity under `label` (platform key store, or `keyStoreDirectory`).
    public func save(label: String, keyStoreDirectory: String? = nil) async throws {
        try await detached { try saveStoredIdentity(label: label, identity: self.ffi, keyStoreDirectory: keyStoreDirectory) }
    }

    /// The certificate's fingerprint, `sha256:HEX`.
    public var fingerprint: String { ffi.fingerprint() }

    /// The certificate (DER).
    public var certificate: Data { ffi.certificate() }

    /// The fingerprint (`sha256:HEX`) of a DER certificate.
    public static func fingerprint(of certificate: Data) -> String {
        certificateFingerprint(certificate: certificate)
    }
}

/// Who may connect to a `Listener`.
public final class ListenerAuthenticator: @unchecked Sendable {
    let ffi: OutpostBindings.ListenerAuthenticator

    private init(_ ffi: OutpostBindings.ListenerAuthenticator) { self.ffi = ffi }

    /// Checks basic credentials with `block` (e.g. against the app's own accounts), called on a
    /// background thread. Returning false or throwing refuses the connection.
    public static func password(
        _ block: @escaping @Sendable (_ username: String, _ password: String) throws -> Bool
    ) -> ListenerAuthenticator {
        ListenerAuthenticator(.password(authenticator: ClosurePasswordAuthenticator(block)))
    }

    /// Accepts these users (name to password), hashed (salted Argon2id, deliberately slow) and not kept.
    public static func users(_ users: [String: String]) async throws -> ListenerAuthenticator {
        try await detached { ListenerAuthenticator(try .users(users: users)) }
    }

    /// Accepts the `SystemUsers` stored in the hub's database, read at each login: a removed user
    /// (or a changed password) is refused and disconnected at once; a `.read` user may only pull.
    public static func systemUsers(_ users: SystemUsers) -> ListenerAuthenticator {
        ListenerAuthenticator(.systemUsers(users: users.ffi))
    }

    /// Accepts TLS client certificates with these fingerprints (`sha256:HEX`).
    public static func clientCertificates(_ fingerprints: [String]) -> ListenerAuthenticator {
        ListenerAuthenticator(.clientCertificates(fingerprints: fingerprints))
    }

    /// Accepts anyone.
    public static var anonymous: ListenerAuthenticator { ListenerAuthenticator(.anonymous()) }
}

/// How a `Listener` serves its database.
public struct ListenerConfig: Sendable {
    /// Who may connect.
    public var authenticator: ListenerAuthenticator
    /// Collections served (they must exist); empty means the default collection.
    public var collections: [String] = []
    /// TCP port; 0 picks a free one (read it from `Listener.port`).
    public var port = 0
    /// Interface to listen on, by IP address or name (`en0`); every IPv4 interface if nil.
    public var networkInterface: String?
    /// The TLS identity presented; a new self-signed one at each start if nil (and no `identityLabel`).
    public var tlsIdentity: TlsIdentity?
    /// Serve plain `ws://`: credentials and documents then cross the network readable by anyone.
    public var disableTLS = false
    /// Refuse pushes: peers may only pull.
    public var readOnly = false
    /// Simultaneous connections allowed; more are told to retry later.
    public var maxConnections = 64
    /// Keep the identity under this label in a key store, so the fingerprint peers pin stays the same.
    public var identityLabel: String?
    /// A file key store directory for `identityLabel` instead of the Keychain.
    public var keyStoreDirectory: String?
    /// Allow delta sync with replicators that ask for it (`ReplicatorConfiguration.deltaSync`); off by default.
    public var deltaSync = false

    public init(authenticator: ListenerAuthenticator) { self.authenticator = authenticator }

    func ffi() throws -> OutpostBindings.ListenerConfig {
        guard (0...65_535).contains(port) else { throw OutpostError.invalidInput("port must be 0...65535") }
        guard maxConnections >= 0 else { throw OutpostError.invalidInput("maxConnections must not be negative") }
        return OutpostBindings.ListenerConfig(
            authenticator: authenticator.ffi, collections: collections, port: UInt16(port), networkInterface: networkInterface,
            tlsIdentity: tlsIdentity?.ffi, disableTls: disableTLS, readOnly: readOnly,
            maxConnections: UInt32(clamping: maxConnections), identityLabel: identityLabel, keyStoreDirectory: keyStoreDirectory,
            deltaSync: deltaSync)
    }
}

/// Connections to a `Listener`.
public struct ConnectionStatus: Sendable, Equatable {
    /// Connections open now (including ones still handshaking).
    public let connections: Int
    /// Connections not yet authenticated; a high count that does not turn into sessions means
    /// strangers hold connections open.
    public let handshaking: Int
    /// Connections with a request being served now.
    public let active: Int
    /// Connections accepted since the listener started.
    public let totalAccepted: Int64
    /// Bytes the connections hold now (bounded by the listener).
    public let bufferedBytes: Int64
}

/// Serves a database to other devices (Couchbase Lite's `URLEndpointListener`); they replicate
/// with one of its `urls`. It runs until `stop()`, whether or not the app keeps a reference.
///
/// ```swift
/// let listener = try await Listener.start(database: db, config: ListenerConfig(
///     authenticator: .password { user, password in user == "hub" && password == secret }))
/// showQrCode(listener.urls[0], listener.fingerprint)
/// ```
public final class Listener: @unchecked Sendable {
    private let ffi: OutpostBindings.Listener

    private init(_ ffi: OutpostBindings.Listener) { self.ffi = ffi }

    /// Starts serving `database`; `OutpostError.network` if the port or interface cannot be used.
    public static func start(database: Database, config: ListenerConfig) async throws -> Listener {
        let config = try config.ffi()
        return Listener(try await rethrowingAsync { try await OutpostBindings.Listener.start(database: database.ffi, config: config) })
    }

    /// Stops accepting and closes every connection; returns once the port is released.
    public func stop() async { await ffi.stop() }

    /// The port listened on (the one picked when the config said 0).
    public var port: Int { Int(ffi.port()) }

    /// The URLs peers can replicate with, one per address listened on.
    public var urls: [String] { ffi.urls() }

    /// The TLS certificate's fingerprint (`sha256:HEX`) for peers to pin; nil without TLS.
    public var fingerprint: String? { ffi.fingerprint() }

    /// Connection counts now.
    public var connectionStatus: ConnectionStatus {
        let s = ffi.connectionStatus()
        return ConnectionStatus(
            connections: Int(s.connections), handshaking: Int(s.handshaking), active: Int(s.active),
            totalAccepted: Int64(s.totalAccepted), bufferedBytes: Int64(s.bufferedBytes))
    }
}

final class ClosurePasswordAuthenticator: PasswordAuthenticator, @unchecked Sendable {
    private let block: @Sendable (String, String) throws -> Bool
    init(_ block: @escaping @Sendable (String, String) throws -> Bool) { self.block = block }
    func authenticate(username: String, password: String) throws -> Bool { try block(username, password) }
}
