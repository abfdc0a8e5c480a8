// The marked subset of the SDK's JUnit 5 suite, run under Robolectric over
// the real Android 14 framework classes with the Android flavour of the
// bindings (android = true). Each test here calls one test of the JVM suite
// (tests/kotlin/src/test/kotlin), whose JUnit 5 annotations are inert when
// called directly; the subset covers the store, typed documents and `update`
// under contention, change Flows, callbacks from Rust threads, local
// replication with a Kotlin resolver, network sync over TLS, and the Logcat
// log sink. Kept small: Robolectric start-up is the slow part.
package org.outpost

import android.os.Build
import android.util.Log
import kotlinx.coroutines.runBlocking
import org.junit.Rule
import org.junit.Test
import org.junit.rules.TemporaryFolder
import org.junit.runner.RunWith
import org.robolectric.RobolectricTestRunner
import org.robolectric.annotation.Config
import org.robolectric.shadows.ShadowLog
import kotlin.test.assertEquals
import kotlin.test.assertTrue

@RunWith(RobolectricTestRunner::class)
@Config(sdk = [34])
class RobolectricSubsetTest {
    @get:Rule
    val temp = TemporaryFolder()

    private fun <T : Any> jvm(test: T, setDir: T.(java.nio.file.Path) -> Unit): T =
        test.apply { setDir(temp.newFolder().toPath()) }

    @Test
    fun runsOnAndroid14WithTheAndroidBindings() {
        assertEquals(34, Build.VERSION.SDK_INT)
        // android = true: on API 34+ objects are freed through android.system.SystemCleaner.
        val create = Class.forName("org.outpost.Outpost_ffiKt")
            .getDeclaredMethod("create", UniffiCleaner.Companion::class.java)
            .apply { isAccessible = true }
        assertEquals("AndroidSystemCleaner", create.invoke(null, UniffiCleaner.Companion).javaClass.simpleName)
    }

    @Test
    fun logcatSinkWritesOutpostsMessagesToLogcat() = runBlocking {
        OutpostLog.level = LogLevel.INFO
        OutpostLog.sink = OutpostAndroid.logcat
        try {
            val db = openDb(temp.newFolder().toPath(), "hub.db")
            val listener = Listener.start(db, ListenerConfig(ListenerAuthenticator.anonymous(), networkInterface = "127.0.0.1"))
            listener.stop()
            listener.close()
            db.close()
            val logs = ShadowLog.getLogsForTag(OutpostAndroid.LOG_TAG)
            assertTrue(
                logs.any { it.type == Log.INFO && it.msg.startsWith("net::listener: listener started") },
                logs.map { "${it.type} ${it.msg}" }.toString(),
            )
        } finally {
            OutpostLog.sink = null
        }
    }

    @Test
    fun storeRoundTrip() = jvm(StoreTest()) { dir = it }.saveGetUpdateDeletePurgeRoundTrip()

    @Test
    fun storeErrorsAreTyped() = jvm(StoreTest()) { dir = it }.everyFailureIsATypedException()

    @Test
    fun typedDocuments() = jvm(DocumentTest()) { dir = it }.typedDocumentsRoundTripAndFieldsUnknownToTheClassAreIgnored()

    @Test
    fun updateUnderContention() = jvm(DocumentTest()) { dir = it }.updateUnderContentionFromTwoCoroutinesLosesNoIncrement()

    @Test
    fun changeFlow() = jvm(ListenerTest()) { dir = it }.collectionChangeFlowDeliversEachCommittedWrite()

    @Test
    fun callbacksFromRustThreads() = jvm(ListenerTest()) { dir = it }.callbacksArriveFromRustThreadsAndMayCallBackIntoOutpost()

    @Test
    fun kotlinConflictResolver() = jvm(ReplicationTest()) { dir = it }.kotlinConflictResolverIsCalledDuringPullAndItsMergeIsKept()

    @Test
    fun networkSyncOverTls() = jvm(NetworkTest()) { dir = it }.listenerAndReplicatorSyncBothWaysOverTlsWithBasicAuth()

    @Test
    fun wrongPasswordIsAuth() = jvm(NetworkTest()) { dir = it }.wrongPasswordThrowsAuthAndNoDocumentCrosses()
}
