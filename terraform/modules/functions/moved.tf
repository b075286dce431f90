# State addresses from before the functions became one resource over local.functions (kept so that an existing
# deployment's functions, service accounts and invoker grants are moved in place, not destroyed and recreated).

moved {
  from = google_cloudfunctions2_function.ingest
  to   = google_cloudfunctions2_function.this["ingest"]
}

moved {
  from = google_cloudfunctions2_function.dispatcher
  to   = google_cloudfunctions2_function.this["dispatcher"]
}

moved {
  from = google_cloudfunctions2_function.completion
  to   = google_cloudfunctions2_function.this["completion"]
}

moved {
  from = google_cloudfunctions2_function.api
  to   = google_cloudfunctions2_function.this["api"]
}

moved {
  from = google_service_account.ingest
  to   = google_service_account.runtime["ingest"]
}

moved {
  from = google_service_account.dispatcher
  to   = google_service_account.runtime["dispatcher"]
}

moved {
  from = google_service_account.completion
  to   = google_service_account.runtime["completion"]
}

moved {
  from = google_service_account.api
  to   = google_service_account.runtime["api"]
}

moved {
  from = google_cloud_run_v2_service_iam_member.events_invoke_ingest
  to   = google_cloud_run_v2_service_iam_member.events_invoke["ingest"]
}

moved {
  from = google_cloud_run_v2_service_iam_member.events_invoke_dispatcher
  to   = google_cloud_run_v2_service_iam_member.events_invoke["dispatcher"]
}
