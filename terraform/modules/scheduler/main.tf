# The dispatcher's tick: Cloud Scheduler publishes to the tick topic, whose push subscription wakes the dispatcher
# (devstack/ticker.py is the local stand-in and sends the same message). The tick admits jobs whose own
# "queued"/"slot-freed" message was lost or dead-lettered, and refreshes queue positions.

resource "google_cloud_scheduler_job" "tick" {
  project     = var.project_id
  region      = var.region
  name        = var.name
  description = "OpenLane Cloud dispatcher tick"
  schedule    = var.schedule
  time_zone   = "Etc/UTC"
  paused      = var.paused

  retry_config {
    retry_count = 0
  }

  pubsub_target {
    topic_name = var.topic_id
    data       = base64encode(jsonencode({ kind = "tick" }))
    attributes = {
      kind = "tick"
    }
  }
}
