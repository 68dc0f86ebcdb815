//! The admin HTTP listener (localhost by default): `/metrics` in the Prometheus text format,
//! `/healthz`, `/readyz` (the first full table exchange is done), and the JSON endpoints the
//! `speakerd show` commands read: `/api/neighbors`, `/api/routes`, `/api/route?prefix=P`,
//! `/api/bfd`, `/api/config` (the configuration in force, for `speakerd check --diff-running`).

use std::collections::HashMap;

use axum::extract::{Query as UrlQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use bgp_proto::Prefix;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::warn;

use crate::bfd_task::BfdQuery;
use crate::control_task::{Query, ToControl};
use crate::metrics::Metrics;
use crate::mrt_dump;
use crate::msg::RunningConfig;

#[derive(Clone)]
struct AdminState {
    to_control: mpsc::UnboundedSender<ToControl>,
    bfd: mpsc::UnboundedSender<BfdQuery>,
    metrics: Metrics,
    running: watch::Receiver<RunningConfig>,
}

/// Serves the admin API until the task is aborted.
pub(crate) async fn serve(
    listener: TcpListener,
    to_control: mpsc::UnboundedSender<ToControl>,
    bfd: mpsc::UnboundedSender<BfdQuery>,
    metrics: Metrics,
    running: watch::Receiver<RunningConfig>,
) {
    let app = Router::new()
        .route("/metrics", get(metrics_text))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .route("/api/neighbors", get(neighbors))
        .route("/api/routes", get(routes))
        .route("/api/route", get(route))
        .route("/api/bfd", get(bfd_sessions))
        .route("/api/dump/rib", get(dump_rib))
        .route("/api/config", get(running_config))
        .with_state(AdminState {
            to_control,
            bfd,
            metrics,
            running,
        });
    if let Err(e) = axum::serve(listener, app).await {
        warn!(error = %e, "admin API stopped");
    }
}

async fn ask<T>(
    state: &AdminState,
    make: impl FnOnce(oneshot::Sender<T>) -> Query,
) -> Result<T, Response> {
    let (tx, rx) = oneshot::channel();
    let unavailable = || {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "control task not running\n",
        )
            .into_response()
    };
    state
        .to_control
        .send(ToControl::Query(make(tx)))
        .map_err(|_| unavailable())?;
    rx.await.map_err(|_| unavailable())
}

/// The RIB's gauges (routes, prefixes per neighbour, uptimes) are brought up to date at each
/// scrape, not after every change: a scrape costs one pass over the table, an UPDATE nothing.
async fn metrics_text(State(state): State<AdminState>) -> impl IntoResponse {
    // Without the control task the counters kept by the other tasks are still worth serving.
    let _ = ask(&state, Query::RefreshMetrics).await;
    (
        [("content-type", "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}

async fn ready(State(state): State<AdminState>) -> Response {
    match ask(&state, Query::Ready).await {
        Ok(true) => (StatusCode::OK, "ready\n").into_response(),
        Ok(false) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "sessions not yet Established with End-of-RIB\n",
        )
            .into_response(),
        Err(r) => r,
    }
}

async fn neighbors(State(state): State<AdminState>) -> Response {
    match ask(&state, Query::Neighbors).await {
        Ok(views) => Json(views).into_response(),
        Err(r) => r,
    }
}

async fn routes(State(state): State<AdminState>) -> Response {
    match ask(&state, Query::Routes).await {
        Ok(views) => Json(views).into_response(),
        Err(r) => r,
    }
}

async fn route(
    State(state): State<AdminState>,
    UrlQuery(params): UrlQuery<HashMap<String, String>>,
) -> Response {
    let Some(prefix) = params.get("prefix").and_then(|p| p.parse::<Prefix>().ok()) else {
        return (StatusCode::BAD_REQUEST, "give ?prefix=ADDRESS/LENGTH\n").into_response();
    };
    match ask(&state, |tx| Query::Route(prefix, tx)).await {
        Ok(views) => Json(views).into_response(),
        Err(r) => r,
    }
}

async fn bfd_sessions(State(state): State<AdminState>) -> Response {
    let (tx, rx) = oneshot::channel();
    if state.bfd.send(tx).is_err() {
        return (StatusCode::SERVICE_UNAVAILABLE, "BFD task not running\n").into_response();
    }
    match rx.await {
        Ok(views) => Json(views).into_response(),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "BFD task not running\n").into_response(),
    }
}

async fn running_config(State(state): State<AdminState>) -> Response {
    let running = state.running.borrow().clone();
    Json(running).into_response()
}

/// `/api/dump/rib?table=adj-rib-in|loc-rib` (`speakerd dump rib`): an MRT TABLE_DUMP_V2 file
/// (RFC 6396 §4.3) of the table at this moment, streamed as it is encoded ([`mrt_dump`]).
async fn dump_rib(
    State(state): State<AdminState>,
    UrlQuery(params): UrlQuery<HashMap<String, String>>,
) -> Response {
    let kind = match params.get("table").map(String::as_str) {
        None | Some("adj-rib-in") => rib::SnapshotKind::AdjRibIn,
        Some("loc-rib") => rib::SnapshotKind::LocRib,
        Some(other) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("unknown table {other:?}: give adj-rib-in or loc-rib\n"),
            )
                .into_response()
        }
    };
    let timestamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX));
    match ask(&state, |reply| Query::DumpRib {
        kind,
        timestamp,
        reply,
    })
    .await
    {
        Ok(dump) => mrt_dump::response(dump),
        Err(r) => r,
    }
}
