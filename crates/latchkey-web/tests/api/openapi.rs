//! The OpenAPI document describes exactly the routes the router serves.

use std::collections::BTreeSet;

use axum::http::StatusCode;

use crate::common::app;

fn concrete(path: &str) -> String {
    path.replace("{name}", "alpha")
        .replace("{login}", "alice")
        .replace("{serial}", "T1")
        .replace("{kind}", "lockout")
}

#[tokio::test]
async fn every_route_is_documented_and_every_documented_route_exists() {
    let app = app().await;
    let doc = app
        .call("GET", "/api/v1/openapi.json", None, None)
        .await
        .expect(200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let table = latchkey_web::route_table();
    assert!(table.len() >= 33, "{} routes", table.len());

    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .filter(|k| k.as_str() != "parameters")
                .map(move |m| (m.to_uppercase(), path.clone()))
        })
        .collect();
    let served: BTreeSet<(String, String)> = table
        .iter()
        .map(|r| (r.method.to_owned(), r.path.to_owned()))
        .collect();
    assert_eq!(served.len(), table.len(), "a route is registered twice");
    assert_eq!(
        documented, served,
        "the OpenAPI document and the router disagree"
    );

    for r in &table {
        let op = &doc["paths"][r.path][r.method.to_lowercase()];
        let admin = r.path.starts_with("/api/v1/admin/");
        let authn = r.path.starts_with("/api/v1/authn/")
            || r.path.starts_with("/api/v1/cloud/")
            || r.path.starts_with("/api/v1/offline/");
        // Admin operations inherit the global bearer requirement; authentication operations
        // take an agent key instead; probes opt out.
        if authn {
            assert_eq!(
                op["security"],
                serde_json::json!([{"agent_key": []}]),
                "{} {} must take an agent key",
                r.method,
                r.path
            );
            for code in ["400", "401", "413", "500", "503"] {
                assert_eq!(
                    op["responses"][code]["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/ErrorBody",
                    "{} {} lacks {code}",
                    r.method,
                    r.path
                );
            }
            let answer = match r.path {
                "/api/v1/cloud/methods" => "#/components/schemas/MethodsResponse",
                "/api/v1/offline/enroll" => "#/components/schemas/EnrollResponse",
                "/api/v1/offline/events" => "#/components/schemas/EventsResponse",
                _ => "#/components/schemas/AuthnResponse",
            };
            assert_eq!(
                op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"], answer,
                "{} {}",
                r.method, r.path
            );
        } else if admin {
            assert!(
                op.get("security").is_none(),
                "{} {} overrides security",
                r.method,
                r.path
            );
            for code in ["401", "403", "400", "500"] {
                assert_eq!(
                    op["responses"][code]["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/ErrorBody",
                    "{} {} lacks {code}",
                    r.method,
                    r.path
                );
            }
        } else {
            assert_eq!(
                op["security"],
                serde_json::json!([{}]),
                "{} {} needs no auth",
                r.method,
                r.path
            );
        }
        if ["POST", "PUT", "PATCH"].contains(&r.method) && op.get("requestBody").is_some() {
            assert!(op["responses"].get("413").is_some());
        }
        for p in r
            .path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        {
            let params = op["parameters"]
                .as_array()
                .unwrap_or_else(|| panic!("{} {} has no parameters", r.method, r.path));
            assert!(
                params.iter().any(|x| x["name"] == p && x["in"] == "path"),
                "{} {} lacks {p}",
                r.method,
                r.path
            );
        }
        let success: Vec<&String> = op["responses"]
            .as_object()
            .unwrap()
            .keys()
            .filter(|c| c.starts_with('2'))
            .collect();
        assert_eq!(success.len(), 1, "{} {}", r.method, r.path);
    }
    assert_eq!(doc["security"], serde_json::json!([{"bearer": []}]));
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["agent_key"]["scheme"],
        "bearer"
    );
    for path in ["/api/v1/authn/initialize", "/api/v1/authn/verify"] {
        assert!(
            table.iter().any(|r| r.method == "POST" && r.path == path),
            "{path} is not served"
        );
    }
    for schema in [
        "ErrorBody",
        "UserView",
        "CreateUser",
        "PolicyValue",
        "GeneratedToken",
        "AuditRecordView",
        "CreatedAdmin",
        "InitializeWithOffline",
        "VerifyWithOffline",
        "AuthnResponse",
        "Challenge",
    ] {
        assert!(
            doc["components"]["schemas"].get(schema).is_some(),
            "schema {schema} missing"
        );
    }

    // Every route in the table is really served: anonymous calls reach the route (401 for
    // admin and authentication routes, 2xx or 503 for the probes), never the 404/405
    // fallbacks.
    for r in &table {
        let resp = app.call(r.method, &concrete(r.path), None, None).await;
        if [
            "/api/v1/admin/",
            "/api/v1/authn/",
            "/api/v1/cloud/",
            "/api/v1/offline/",
        ]
        .iter()
        .any(|p| r.path.starts_with(p))
        {
            assert_eq!(
                resp.status,
                StatusCode::UNAUTHORIZED,
                "{} {}: {}",
                r.method,
                r.path,
                resp.body
            );
        } else {
            assert!(
                resp.status.is_success(),
                "{} {}: {}",
                r.method,
                r.path,
                resp.status
            );
        }
    }
}
