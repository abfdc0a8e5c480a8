// Encryption at rest through the public Swift API (mirrors tests/kotlin EncryptionTest): a key
// made on first open and kept in the Keychain (this device only), reused on the next open; a
// passphrase; wrong or missing keys as OutpostError.wrongKey.
import Foundation
import XCTest
import Outpost

final class EncryptionTests: XCTestCase {
    private let marker = "MARKER-Amina-7f3c"

    private func wrongKey(_ open: () async throws -> Database) async -> Bool {
        do {
            _ = try await open()
            return false
        } catch OutpostError.wrongKey {
            return true
        } catch {
            return false
        }
    }

    func testAKeychainKeyIsMadeOnFirstOpenAndReused() async throws {
        let dir = try temporaryDirectory(self)
        let path = dir.appendingPathComponent("camp.db").path
        let label = "test-\(UUID().uuidString)"
        let config = DatabaseConfig(encryption: .keyStore(label: label))
        let db = try await Database.open(at: path, config: config)
        try await db.defaultCollection().save("child-1", json: "{\"name\":\"\(marker)\"}")
        try db.close()
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        XCTAssertNil(bytes.range(of: Data(marker.utf8)), "the file does not hold the marker")

        let again = try await Database.open(at: path, config: config)
        let doc = try await again.defaultCollection().document("child-1")
        XCTAssertEqual(doc?.json, "{\"name\":\"\(marker)\"}")
        try again.close()
        let refusedWithoutKey = await wrongKey { try await Database.open(at: path) }
        XCTAssertTrue(refusedWithoutKey)
        let refusedOtherLabel = await wrongKey {
            try await Database.open(at: path, config: DatabaseConfig(encryption: .keyStore(label: label + "-other")))
        }
        XCTAssertTrue(refusedOtherLabel)
    }

    func testAPassphraseOpensItsDatabaseAndAWrongOneIsRefused() async throws {
        let dir = try temporaryDirectory(self)
        let path = dir.appendingPathComponent("hub.db").path
        let db = try await Database.open(at: path, config: DatabaseConfig(encryption: .passphrase("camp passphrase")))
        try await db.defaultCollection().save("child-2", json: "{}")
        try db.close()
        let refused = await wrongKey {
            try await Database.open(at: path, config: DatabaseConfig(encryption: .passphrase("not it")))
        }
        XCTAssertTrue(refused)
        XCTAssertEqual(Encryption.passphrase("camp passphrase").description, "passphrase(<redacted>)")
    }
}
