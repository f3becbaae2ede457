// Link libcoil: from $COIL_LIB_DIR (a build tree's src/ or an install's lib/),
// else wherever the linker finds it. COIL_STATIC=1 links libcoil.a (then
// liburing too).
fn main() {
    println!("cargo:rerun-if-env-changed=COIL_LIB_DIR");
    println!("cargo:rerun-if-env-changed=COIL_STATIC");
    if let Ok(dir) = std::env::var("COIL_LIB_DIR") {
        println!("cargo:rustc-link-search=native={dir}");
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
    if std::env::var("COIL_STATIC").map(|v| v == "1").unwrap_or(false) {
        println!("cargo:rustc-link-lib=static=coil");
        println!("cargo:rustc-link-lib=uring");
    } else {
        println!("cargo:rustc-link-lib=coil");
    }
}
