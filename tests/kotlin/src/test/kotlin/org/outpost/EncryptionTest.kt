// Encryption at rest through the public Kotlin API: a key made on first open and kept by the
// key store (the file key store stands in for the Android Keystore on the JVM), reused on the
// next open; a passphrase; wrong or missing keys as OutpostException.WrongKey; nothing readable
// on disk.
package org.outpost

import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import java.nio.file.Files
import java.nio.file.Path
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertTrue

class EncryptionTest {
    @TempDir
    lateinit var dir: Path

    private val marker = "MARKER-Amina-7f3c"

    private fun filesHoldMarker(): Boolean = Files.walk(dir).use { paths ->
        paths.filter { Files.isRegularFile(it) }.anyMatch { String(Files.readAllBytes(it), Charsets.ISO_8859_1).contains(marker) }
    }

    @Test
    fun aKeyStoreKeyIsMadeOnFirstOpenAndReused(): Unit = timed {
        val path = dir.resolve("camp.db").toString()
        val keys = dir.resolve("keys").toString()
        val config = DatabaseConfig(encryption = Encryption.KeyStore("camp", keyStoreDirectory = keys))
        Database.open(path, config).use { db ->
            db.defaultCollection().saveJson("child-1", """{"name":"$marker"}""")
        }
        assertTrue(Files.list(dir.resolve("keys")).use { it.count() } == 1L, "one key stored")
        assertFalse(filesHoldMarker(), "no file holds the marker")

        Database.open(path, config).use { db ->
            assertEquals("""{"name":"$marker"}""", db.defaultCollection().getDocument("child-1")!!.json)
        }
        assertFailsWith<OutpostException.WrongKey> { Database.open(path) }
        val otherLabel = DatabaseConfig(encryption = Encryption.KeyStore("other", keyStoreDirectory = keys))
        assertFailsWith<OutpostException.WrongKey> { Database.open(path, otherLabel) }
        // The refused opens changed nothing: the right key still opens it.
        Database.open(path, config).use { db -> assertEquals(1L, db.defaultCollection().count()) }
    }

    @Test
    fun aPassphraseOpensItsDatabaseAndAWrongOneIsRefused(): Unit = timed {
        val path = dir.resolve("hub.db").toString()
        Database.open(path, DatabaseConfig(encryption = Encryption.Passphrase("camp passphrase"))).use { db ->
            db.defaultCollection().saveJson("child-2", """{"name":"$marker"}""")
        }
        assertFalse(filesHoldMarker())
        assertFailsWith<OutpostException.WrongKey> {
            Database.open(path, DatabaseConfig(encryption = Encryption.Passphrase("not it")))
        }
        assertEquals("Passphrase(<redacted>)", Encryption.Passphrase("camp passphrase").toString())
        Database.open(path, DatabaseConfig(encryption = Encryption.Passphrase("camp passphrase"))).use { db ->
            assertEquals(1L, db.defaultCollection().count())
        }
    }
}
