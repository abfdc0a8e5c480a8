// Camp hub administration: system users stored in the database, and the
// replication manager that runs configured servers continuously with their status.
@_implementationOnly import OutpostBindings
import Foundation

/// What a system user may do.
public enum SystemUserRole: Sendable, Equatable {
    /// Push and pull (a camp or device that syncs).
    case sync
    /// Pull only: a push is refused with `OutpostError.readOnly`.
    case read

    init(_ r: OutpostBindings.SystemUserRole) {
        switch r {
        case .sync: self = .sync
        case .read: self = .read
        }
    }

    var ffi: OutpostBindings.SystemUserRole {
        switch self {
        case .sync: .sync
        case .read: .read
        }
    }
}

/// A system user as listed (never the password or its hash).
public struct SystemUser: Sendable, Equatable {
    public let name: String
    public let role: SystemUserRole
    public let created: Date
    public let lastLogin: Date?
}

/// The system users stored in a hub's database (never replicated): the accounts a listener with
/// `ListenerAuthenticator.systemUsers` accepts. Changes count at once for a running listener: a
/// removed user, or one whose password changed, is refused and disconnected within a second.
///
/// ```swift
/// let users = try await SystemUsers.open(in: db)
/// try await users.add("camp-2", password: password, role: .sync)
/// let listener = try await Listener.start(database: db, config: ListenerConfig(authenticator: .systemUsers(users)))
/// ```
public final class SystemUsers: @unchecked Sendable {
    let ffi: OutpostBindings.SystemUsers

    private init(_ ffi: OutpostBindings.SystemUsers) { self.ffi = ffi }

    /// The system users of `database`.
    public static func open(in database: Database) async throws -> SystemUsers {
        try await detached { SystemUsers(try OutpostBindings.SystemUsers.open(database: database.ffi)) }
    }

    /// Adds a user (the password is hashed, deliberately slowly, and not kept);
    /// `OutpostError.invalidInput` if it exists.
    public func add(_ name: String, password: String, role: SystemUserRole = .sync) async throws {
        try await detached { try self.ffi.add(name: name, password: password, role: role.ffi) }
    }

    /// Replaces a user's password; the user's open connections are closed.
    public func setPassword(_ name: String, password: String) async throws {
        try await detached { try self.ffi.setPassword(name: name, password: password) }
    }

    /// Removes a user (its open connections are closed); false if there was none.
    @discardableResult
    public func remove(_ name: String) async throws -> Bool {
        try await detached { try self.ffi.remove(name: name) }
    }

    /// Every user, by name.
    public func list() async throws -> [SystemUser] {
        try await detached {
            try self.ffi.list().map {
                SystemUser(
                    name: $0.name, role: SystemUserRole($0.role), created: date($0.createdSecs),
                    lastLogin: $0.lastLoginSecs.map(date))
            }
        }
    }
}

private func date(_ seconds: UInt64) -> Date { Date(timeIntervalSince1970: TimeInterval(seconds)) }

/// A server a hub replicates with continuously; its password is given apart to
/// `ReplicationManager.add` and kept sealed.
public struct ConfiguredServer: Sendable, Equatable {
    /// The administrator's name for it, unique in the hub.
    public var name: String
    /// `wss://host:port/db` (another hub) or `https://host/db` (a CouchDB).
    public var url: String
    /// The user name presented.
    public var username: String
    /// Which certificates of the server are trusted.
    public var serverTrust: ServerTrust = .systemRoots
    /// Push, pull or both.
    public var direction: Direction = .pushAndPull
    /// Collections replicated (made locally when missing); empty: every collection the server serves, asked at each connection.
    public var collections: [String] = []

    public init(
        name: String, url: String, username: String, serverTrust: ServerTrust = .systemRoots,
        direction: Direction = .pushAndPull, collections: [String] = []
    ) {
        self.name = name
        self.url = url
        self.username = username
        self.serverTrust = serverTrust
        self.direction = direction
        self.collections = collections
    }

    init(_ s: OutpostBindings.ConfiguredServer) {
        self.init(
            name: s.name, url: s.url, username: s.username, serverTrust: ServerTrust(s.serverTrust),
            direction: Direction(s.direction), collections: s.collections)
    }

    var ffi: OutpostBindings.ConfiguredServer {
        OutpostBindings.ConfiguredServer(
            name: name, url: url, username: username, serverTrust: serverTrust.ffi, direction: direction.ffi,
            collections: collections)
    }
}

extension ServerTrust {
    init(_ t: OutpostBindings.ServerTrust) {
        switch t {
        case .systemRoots: self = .systemRoots
        case .caCertificates(let certificates): self = .caCertificates(certificates)
        case .pinnedFingerprint(let fingerprint): self = .pinnedFingerprint(fingerprint)
        case .pinnedCertificate(let certificate): self = .pinnedCertificate(certificate)
        case .selfSignedOnly: self = .selfSignedOnly
        case .insecureAcceptAny: self = .insecureAcceptAny
        }
    }
}

/// Where a configured server's replication is.
public enum ServerState: Sendable, Equatable {
    /// Connecting or transferring changes.
    case running
    /// Caught up, waiting for changes.
    case idle
    /// The server cannot be reached; retried with backoff.
    case offline
    /// Stopped on an error (e.g. a wrong password); retried after a long backoff, or at once
    /// when the server is added again.
    case error
    /// Not running.
    case stopped

    init(_ s: OutpostBindings.ServerState) {
        switch s {
        case .running: self = .running
        case .idle: self = .idle
        case .offline: self = .offline
        case .error: self = .error
        case .stopped: self = .stopped
        }
    }
}

/// A configured server's replication status.
public struct ServerStatus: Sendable, Equatable {
    public let name: String
    public let state: ServerState
    /// When the state last changed.
    public let stateTime: Date
    /// With `.offline` or `.error`: when the next attempt is due.
    public let nextRetry: Date?
    /// With `.error` (and `.offline`): what went wrong.
    public let error: String?
    public let docsRead: Int64
    public let docsWritten: Int64
    public let docsFailed: Int64
    /// Changes known and not yet processed.
    public let pending: Int64
    /// When the replication last caught up.
    public let lastSuccess: Date?

    init(_ s: OutpostBindings.ServerStatus) {
        name = s.name
        state = ServerState(s.state)
        stateTime = date(s.stateTimeSecs)
        nextRetry = s.nextRetrySecs.map(date)
        error = s.error
        docsRead = Int64(clamping: s.docsRead)
        docsWritten = Int64(clamping: s.docsWritten)
        docsFailed = Int64(clamping: s.docsFailed)
        pending = Int64(clamping: s.pending)
        lastSuccess = s.lastSuccessSecs.map(date)
    }
}

/// Runs every configured server of a hub's database continuously (CouchDB's `_replicator`, for
/// camps): servers are kept in the database with their passwords sealed by a key from the
/// Keychain, run again when the manager is opened after a restart, and added, replaced or removed
/// while it runs. It runs until `stop()`, whether or not the app keeps a reference.
///
/// ```swift
/// let manager = try await ReplicationManager.open(in: db)
/// try await manager.add(ConfiguredServer(name: "camp-1", url: "wss://10.0.0.5:4984/camp",
///     username: "camp-2", serverTrust: .pinnedFingerprint(camp1Fingerprint)), password: password)
/// for await statuses in manager.statusStream() { show(statuses) }
/// ```
public final class ReplicationManager: @unchecked Sendable {
    private let ffi: OutpostBindings.ReplicationManager

    private init(_ ffi: OutpostBindings.ReplicationManager) { self.ffi = ffi }

    /// Opens the configured servers of `database` and starts running them. Passwords are sealed
    /// with a key in the Keychain, or in a file key store at `keyStoreDirectory`.
    public static func open(in database: Database, keyStoreDirectory: String? = nil) async throws -> ReplicationManager {
        try await detached {
            ReplicationManager(try OutpostBindings.ReplicationManager.open(database: database.ffi, keyStoreDirectory: keyStoreDirectory))
        }
    }

    /// Adds `server`, or replaces the one with its name (its replication restarts with the new settings).
    public func add(_ server: ConfiguredServer, password: String) async throws {
        try await detached { try self.ffi.add(server: server.ffi, password: password) }
    }

    /// Removes the server `name` and stops replicating with it; false if there was none.
    @discardableResult
    public func remove(_ name: String) async throws -> Bool {
        try await detached { try self.ffi.remove(name: name) }
    }

    /// The configured servers, by name.
    public func servers() async throws -> [ConfiguredServer] {
        try await detached { try self.ffi.servers().map(ConfiguredServer.init) }
    }

    /// Each configured server's status, by name.
    public func statuses() async throws -> [ServerStatus] {
        try await detached { try self.ffi.statuses().map(ServerStatus.init) }
    }

    /// Every server's status now, then again after each change, until the stream is dropped.
    public func statusStream() -> AsyncStream<[ServerStatus]> {
        AsyncStream(bufferingPolicy: .bufferingNewest(1)) { continuation in
            // Each status written is a cue to read them all again, off the replication thread and
            // in order (one serial queue), so the last element is always the newest.
            let reads = DispatchQueue(label: "org.outpost.hub.statuses")
            let read: @Sendable () -> Void = { [ffi] in
                reads.async {
                    if let statuses = try? ffi.statuses() { continuation.yield(statuses.map(ServerStatus.init)) }
                }
            }
            let handle = ffi.addStatusListener(listener: ClosureServerStatusListener { _ in read() })
            read()
            continuation.onTermination = { _ in handle.cancel() }
        }
    }

    /// Calls `block` on `queue` with each status written, until removed.
    @discardableResult
    public func addStatusListener(
        queue: DispatchQueue = OutpostSettings.callbackQueue, _ block: @escaping @Sendable (ServerStatus) -> Void
    ) -> ListenerToken {
        ListenerToken(ffi.addStatusListener(listener: ClosureServerStatusListener { s in queue.async { block(s) } }))
    }

    /// Runs the configured servers again after `stop()`.
    public func start() throws { try rethrowing { try ffi.start() } }

    /// Stops every replication (their state becomes `.stopped`); returns once they have.
    public func stop() async { await ffi.stop() }
}

final class ClosureServerStatusListener: ServerStatusListener, @unchecked Sendable {
    private let block: @Sendable (ServerStatus) -> Void
    init(_ block: @escaping @Sendable (ServerStatus) -> Void) { self.block = block }
    func onStatus(status: OutpostBindings.ServerStatus) throws { block(ServerStatus(status)) }
}
