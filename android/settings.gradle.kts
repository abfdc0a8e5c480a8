// The Outpost Android library (AAR). Build the native libraries and the
// generated Kotlin first: ./build-android.sh (needs the Android NDK).
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositories {
        google()
        mavenCentral()
    }
}

rootProject.name = "outpost-android"
