//! The glue [`crate::export_plugin!`] expands to. Each function here runs inside
//! the plugin library and is the last place a panic can be caught: since Rust
//! 1.81 a panic escaping an `extern "C"` function aborts the whole host.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;

use abi_stable::std_types::{RResult, RString, RVec};

use crate::call::{Call, Config};
use crate::error::{ErrorKind, PluginError};
use crate::http::HttpReply;
use crate::manifest::Manifest;
use crate::plugin::Plugin;
use crate::step::Step;

fn panic_text(payload: Box<dyn Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-string payload".to_owned()
    }
}

thread_local! {
    /// Whether this thread is inside a guarded entry point.
    static GUARDED: Cell<bool> = const { Cell::new(false) };
    /// Where the last guarded panic happened, for its error message.
    static LOCATION: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Replaces the panic hook of this library's copy of `std` once. A panic
/// inside a guarded entry point is caught and returned to the host, which
/// logs it as one line; the default hook would also print it (and, with
/// `RUST_BACKTRACE` set, a backtrace of hundreds of lines) to the host's
/// stderr. Any other panic goes to the hook that was there before, so a
/// plugin linked into a test binary still reports its test failures.
fn quiet_guarded_panics() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if GUARDED.with(Cell::get) {
                let at = info
                    .location()
                    .map(|l| format!("{}:{}", l.file(), l.line()));
                LOCATION.with(|l| *l.borrow_mut() = at);
            } else {
                previous(info);
            }
        }));
    });
}

/// Runs `f` with panics caught and kept off stderr.
fn guarded<R>(f: impl FnOnce() -> R) -> Result<R, Box<dyn Any + Send>> {
    quiet_guarded_panics();
    let outer = GUARDED.with(|g| g.replace(true));
    let result = catch_unwind(AssertUnwindSafe(f));
    GUARDED.with(|g| g.set(outer));
    result
}

fn panicked(entry: &str, payload: Box<dyn Any + Send>) -> PluginError {
    let text = panic_text(payload);
    let message = match LOCATION.with(|l| l.borrow_mut().take()) {
        Some(at) => format!("plugin panicked in {entry} at {at}: {text}"),
        None => format!("plugin panicked in {entry}: {text}"),
    };
    PluginError::new(ErrorKind::Panic, message)
}

fn step(entry: &str, f: impl FnOnce() -> Result<Step, PluginError>) -> Step {
    match guarded(f) {
        Ok(Ok(step)) => step,
        Ok(Err(err)) => Step::Failed(err),
        Err(payload) => Step::Failed(panicked(entry, payload)),
    }
}

/// `describe`, guarded.
pub fn describe<P: Plugin>() -> RResult<Manifest, PluginError> {
    match guarded(|| P::default().manifest()) {
        Ok(manifest) => RResult::ROk(manifest),
        Err(payload) => RResult::RErr(panicked("describe", payload)),
    }
}

/// `check`, guarded.
pub fn check<P: Plugin>(config: &Config<'_>) -> RVec<RString> {
    match guarded(|| P::default().check(config)) {
        Ok(problems) => problems.into_iter().map(RString::from).collect(),
        Err(payload) => RVec::from(vec![RString::from(
            panicked("check", payload).message.into_string(),
        )]),
    }
}

/// `prepare`, guarded.
pub fn prepare<P: Plugin>(call: &Call<'_>) -> Step {
    step("prepare", || P::default().prepare(call).map(Step::Send))
}

/// `interpret`, guarded.
pub fn interpret<P: Plugin>(call: &Call<'_>, reply: &HttpReply<'_>) -> Step {
    step("interpret", || P::default().interpret(call, reply))
}

/// Exports a [`Plugin`] implementation as the library's root module.
///
/// ```
/// use phonehook_plugin_api::*;
///
/// #[derive(Default)]
/// struct Acme;
///
/// impl Plugin for Acme {
///     fn manifest(&self) -> Manifest {
///         Manifest::new("acme", "1.0.0").channel(Channel::Sms).host("sms.acme.test")
///     }
///     fn prepare(&self, call: &Call<'_>) -> Result<HttpRequest, PluginError> {
///         let url = format!("{}/send", call.config.base_url("https://sms.acme.test"));
///         Ok(HttpRequest::post(url).form(&[("to", call.message.recipient.as_str())]))
///     }
///     fn interpret(&self, _: &Call<'_>, reply: &HttpReply<'_>) -> Result<Step, PluginError> {
///         let id = reply.text()?.trim().to_owned();
///         Ok(Step::Delivered(Delivery::new(id, "")))
///     }
/// }
///
/// export_plugin!(Acme);
/// ```
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        const _: () = {
            use $crate::__private as __p;

            extern "C" fn describe() -> __p::RResult<$crate::Manifest, $crate::PluginError> {
                __p::describe::<$plugin>()
            }
            extern "C" fn check(config: &$crate::Config<'_>) -> __p::RVec<__p::RString> {
                __p::check::<$plugin>(config)
            }
            extern "C" fn prepare(call: &$crate::Call<'_>) -> $crate::Step {
                __p::prepare::<$plugin>(call)
            }
            extern "C" fn interpret(
                call: &$crate::Call<'_>,
                reply: &$crate::HttpReply<'_>,
            ) -> $crate::Step {
                __p::interpret::<$plugin>(call, reply)
            }

            const MODULE: &__p::WithMetadata<$crate::PluginMod> =
                &__p::WithMetadata::new($crate::PluginMod {
                    describe,
                    check,
                    prepare,
                    interpret,
                });

            fn root_module() -> $crate::PluginModRef {
                $crate::PluginModRef(MODULE.static_as_prefix())
            }

            extern "C" fn load_root_module() -> __p::RootModuleResult {
                __p::__call_root_module_loader(root_module)
            }

            $crate::__export_root_symbol! {
                static ROOT_MODULE_LOADER: __p::LibHeader = unsafe {
                    __p::LibHeader::from_constructor::<$crate::PluginModRef>(
                        load_root_module,
                        __p::CheckTypeLayout::Yes,
                    )
                };
            }
        };
    };
}

/// Gives the root-module static its exported name. The name is abi_stable's
/// mangled root-module symbol (see `ROOT_SYMBOL`), spelled out because
/// `export_name` takes only a literal.
#[cfg(not(feature = "static-link"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __export_root_symbol {
    ($item:item) => {
        #[export_name = "_1as_0lib_1header_0root_bmodule_bloader"]
        $item
    };
}

/// With `static-link` the static stays private: a binary that links several
/// plugins as Rust libraries (a fuzzer, a benchmark) would otherwise hold the
/// same exported symbol once per plugin and fail to link. A `.so` built with
/// this feature cannot be loaded; the host says the entry symbol is missing.
#[cfg(feature = "static-link")]
#[doc(hidden)]
#[macro_export]
macro_rules! __export_root_symbol {
    ($item:item) => {
        #[allow(dead_code)]
        $item
    };
}
