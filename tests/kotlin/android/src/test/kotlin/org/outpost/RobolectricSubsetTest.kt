// The marked subset of the SDK's JUnit 5 suite, run under Robolectric over
// the real Android 14 framework classes with the Android flavour of the
// bindings (android = true). Each test here calls one test of the JVM suite
// (tests/kotlin/src/test/kotlin), whose JUnit 5 annotations are inert when
// called directly; the subset covers the store and close(), typed documents and
// `update` under contention, change Flows and listeners (on the main thread by
// default, as on a device), callbacks on a chosen dispatcher, local replication
// with a Kotlin resolver, network sync over TLS with typed errors, and the
// Logcat log sink. The garbage-collection tests stay on the JVM suite: they
// watch JNA's cleaner, which the Android flavour does not use on API 34.
// Kept small: Robolectric start-up is the slow part.
package org.outpost

import android.os.Build
import android.os.Looper
import android.util.Log
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.runBlocking
import org.junit.After
import org.junit.Rule
import org.junit.Test
import org.junit.rules.TemporaryFolder
import org.junit.runner.RunWith
import org.robolectric.RobolectricTestRunner
import org.robolectric.annotation.Config
import org.robolectric.Shadows.shadowOf
import org.robolectric.shadows.ShadowLog
import kotlin.test.assertEquals
import kotlin.test.assertTrue

@RunWith(RobolectricTestRunner::class)
@Config(sdk = [34])
class RobolectricSubsetTest {
    @get:Rule
    val temp = TemporaryFolder()

    /**
     * [test] with its temp dir set. The JVM tests block the test thread while callbacks run,
     * and here the test thread is Android's main thread: their callbacks go to
     * Dispatchers.Default (the main-thread default has a test of its own below).
     */
    private val defaultCallbackDispatcher = Outpost.callbackDispatcher

    @After
    fun restoreTheDefaultCallbackDispatcher() {
        Outpost.callbackDispatcher = defaultCallbackDispatcher
    }

    private fun <T : Any> jvm(test: T, setDir: T.(java.nio.file.Path) -> Unit): T {
        Outpost.callbackDispatcher = Dispatchers.Default
        return test.apply { setDir(temp.newFolder().toPath()) }
    }

    @Test
    fun listenersAreCalledOnTheMainThreadByDefault() = runBlocking {
        assertEquals(Dispatchers.Main, Outpost.callbackDispatcher)
        val db = openDb(temp.newFolder().toPath(), "camp.db")
        val threads = mutableListOf<Thread>()
        val token = db.defaultCollection().addChangeListener { threads += Thread.currentThread() }
        db.defaultCollection().saveJson("child-1", "{}")
        // Runs what was posted to the main looper (Robolectric's paused looper), in this thread.
        shadowOf(Looper.getMainLooper()).idle()
        assertEquals(listOf(Looper.getMainLooper().thread), threads)
        token.remove()
        db.close()
    }

    @Test
    fun runsOnAndroid14WithTheAndroidBindings() {
        assertEquals(34, Build.VERSION.SDK_INT)
        // android = true: on API 34+ objects are freed through android.system.SystemCleaner.
        val create = Class.forName("org.outpost.ffi.Outpost_ffiKt")
            .getDeclaredMethod("create", org.outpost.ffi.UniffiCleaner.Companion::class.java)
            .apply { isAccessible = true }
        assertEquals("AndroidSystemCleaner", create.invoke(null, org.outpost.ffi.UniffiCleaner.Companion).javaClass.simpleName)
    }

    @Test
    fun logcatSinkWritesOutpostsMessagesToLogcat() = runBlocking {
        OutpostLog.level = LogLevel.INFO
        OutpostLog.sink = OutpostAndroid.logcat
        try {
            val db = openDb(temp.newFolder().toPath(), "hub.db")
            val listener = Listener.start(db, ListenerConfig(ListenerAuthenticator.anonymous(), networkInterface = "127.0.0.1"))
            listener.stop()
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
    fun closeClosesTheFile() = jvm(StoreTest()) { dir = it }.closeClosesTheFileSoItCanBeOpenedAgainAtOnce()

    @Test
    fun typedDocuments() = jvm(DocumentTest()) { dir = it }.typedDocumentsRoundTripAndFieldsUnknownToTheClassAreIgnored()

    @Test
    fun updateUnderContention() = jvm(DocumentTest()) { dir = it }.updateUnderContentionFromTwoCoroutinesLosesNoIncrement()

    @Test
    fun changeFlow() = jvm(ListenerTest()) { dir = it }.collectionChangeFlowDeliversEachCommittedWrite()

    @Test
    fun removedListener() = jvm(ListenerTest()) { dir = it }.removingTheTokenStopsDelivery()

    @Test
    fun callbacksOnAChosenDispatcher() = jvm(ListenerTest()) { dir = it }.callbacksRunInOrderOnTheChosenDispatcherAndMayCallBackIntoOutpost()

    @Test
    fun kotlinConflictResolver() = jvm(ReplicationTest()) { dir = it }.kotlinConflictResolverIsCalledDuringPullAndItsMergeIsKept()

    @Test
    fun networkSyncOverTls() = jvm(NetworkTest()) { dir = it }.listenerAndReplicatorSyncBothWaysOverTlsWithBasicAuth()

    @Test
    fun wrongPasswordIsAuth() = jvm(NetworkTest()) { dir = it }.wrongPasswordThrowsAuthAndNoDocumentCrosses()
}
