//! The dashboard's files, embedded in the kernel image at build time: the page, its script
//! and style (kernel/src/net/web/), and uPlot, the chart library, vendored from the npm
//! registry (web/vendor/README.md says which version and how). Nothing is fetched from
//! anywhere but the kernel, so the page works on a machine with no internet.

use net::Asset;

pub static ASSETS: &[Asset] = &[
    Asset {
        path: "/",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("web/index.html"),
    },
    Asset {
        path: "/dashboard.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("web/dashboard.js"),
    },
    Asset {
        path: "/dashboard.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("web/dashboard.css"),
    },
    Asset {
        path: "/uPlot.iife.min.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("web/vendor/uPlot.iife.min.js"),
    },
    Asset {
        path: "/uPlot.min.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("web/vendor/uPlot.min.css"),
    },
];
