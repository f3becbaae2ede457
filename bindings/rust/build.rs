// Find and link libcoil, in this order:
//   1. $COIL_LIB_DIR: the directory of libcoil.so (a build tree's src/, or an
//      install's lib/); ctest "rust" sets it to the build tree's;
//   2. pkg-config's coil (an installed libcoil; a prefix install is found with
//      PKG_CONFIG_PATH=P/lib/pkgconfig, or P/lib/x86_64-linux-gnu/pkgconfig);
//   3. the linker's default directories.
// With 1 and 2 the directory also goes into the binaries' rpath, so tests
// and examples run without LD_LIBRARY_PATH. COIL_STATIC=1 links libcoil.a
// (then liburing too).
use std::process::Command;

fn pkg_config_libdir() -> Option<String> {
    let out = Command::new("pkg-config")
        .args(["--variable=libdir", "coil"])
        .output()
        .ok()?;
    let dir = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !dir.is_empty()).then_some(dir)
}

fn main() {
    println!("cargo:rerun-if-env-changed=COIL_LIB_DIR");
    println!("cargo:rerun-if-env-changed=COIL_STATIC");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_LIBDIR");
    let dir = std::env::var("COIL_LIB_DIR")
        .ok()
        .filter(|d| !d.is_empty())
        .or_else(pkg_config_libdir);
    match &dir {
        Some(dir) => {
            println!("cargo:rustc-link-search=native={dir}");
            println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
        }
        None => println!(
            "cargo:warning=libcoil: no COIL_LIB_DIR and no pkg-config coil; trying the \
             linker's default directories (see bindings/rust/README.md)"
        ),
    }
    if std::env::var("COIL_STATIC").map(|v| v == "1").unwrap_or(false) {
        println!("cargo:rustc-link-lib=static=coil");
        println!("cargo:rustc-link-lib=uring");
    } else {
        println!("cargo:rustc-link-lib=coil");
    }
}
