// Android library module: the hand-written Kotlin layer (src/main/kotlin,
// shared with the JVM tests in tests/kotlin), the Android start-up object
// (src/android/kotlin), the key-store Java helper (keystore/java), the
// uniffi-generated Kotlin (src/main/generated/kotlin, android = true) and the
// Rust libraries for four ABIs (src/main/jniLibs), the last two written by
// ./build-android.sh. Gradle cannot run in the project's CI; the same sources
// are compiled there against the real Android 14 classes by
// tests/kotlin/android/pom.xml, whose dependency versions match these.
plugins {
    id("com.android.library") version "8.7.3"
    id("org.jetbrains.kotlin.android") version "2.1.0"
    id("org.jetbrains.kotlin.plugin.serialization") version "2.1.0"
    `maven-publish`
}

group = "org.outpost"
version = "0.1.0"

android {
    namespace = "org.outpost"
    compileSdk = 35

    defaultConfig {
        minSdk = 24
        consumerProguardFiles("consumer-rules.pro")
    }

    sourceSets["main"].apply {
        java.srcDirs("src/main/kotlin", "src/android/kotlin", "src/main/generated/kotlin", "keystore/java")
        jniLibs.srcDirs("src/main/jniLibs")
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }

    publishing {
        singleVariant("release") {
            withSourcesJar()
        }
    }
}

kotlin {
    jvmToolchain(17)
}

dependencies {
    // The generated bindings call into the Rust library through JNA; the AAR
    // flavour carries libjnidispatch.so for every ABI. `api`: the published POM
    // then names it (type aar), so an app gets it without declaring it.
    api("net.java.dev.jna:jna:5.15.0@aar")
    // Flow and suspend functions are in the public API.
    api("org.jetbrains.kotlinx:kotlinx-coroutines-android:1.9.0")
    // Typed documents (save(id, value), document<T>(id), update) are in the public API.
    api("org.jetbrains.kotlinx:kotlinx-serialization-json:1.7.3")
    // The generated bindings (android = true) annotate API-33 code paths.
    implementation("androidx.annotation:annotation:1.9.1")
}

publishing {
    publications {
        register<MavenPublication>("release") {
            groupId = "org.outpost"
            artifactId = "outpost-android"
            afterEvaluate { from(components["release"]) }
        }
    }
}
