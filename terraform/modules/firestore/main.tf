# The Firestore (native mode) database the code uses (firestore.Client(project) -> the "(default)" database) and
# the composite indexes its queries need (shared/adapters/firestore_jobs.py). Single-field indexes, which serve
# `state in [...]`, `phase == P` and their counts, and the owner+state equality count (index merge), are automatic.
# `phase` is derived from `state` (shared/domain/job.py Phase) and stored for queries; shared/adapters/
# firestore_upgrade.py writes it on jobs stored before it existed.

resource "google_firestore_database" "this" {
  project                           = var.project_id
  name                              = "(default)"
  location_id                       = var.location_id
  type                              = "FIRESTORE_NATIVE"
  concurrency_mode                  = "PESSIMISTIC"
  app_engine_integration_mode       = "DISABLED"
  point_in_time_recovery_enablement = var.point_in_time_recovery ? "POINT_IN_TIME_RECOVERY_ENABLED" : "POINT_IN_TIME_RECOVERY_DISABLED"
  delete_protection_state           = var.delete_protection ? "DELETE_PROTECTION_ENABLED" : "DELETE_PROTECTION_DISABLED"
  deletion_policy                   = var.delete_protection ? "ABANDON" : "DELETE"
}

# oldest_in_state: jobs where state == S order by created_at (the dispatcher's queue, oldest first).
resource "google_firestore_index" "jobs_state_created_asc" {
  project    = var.project_id
  database   = google_firestore_database.this.name
  collection = "jobs"

  fields {
    field_path = "state"
    order      = "ASCENDING"
  }

  fields {
    field_path = "created_at"
    order      = "ASCENDING"
  }
}

# recent_run_seconds: jobs where state == SUCCEEDED order by created_at desc (run time estimates for queue ETAs).
resource "google_firestore_index" "jobs_state_created_desc" {
  project    = var.project_id
  database   = google_firestore_database.this.name
  collection = "jobs"

  fields {
    field_path = "state"
    order      = "ASCENDING"
  }

  fields {
    field_path = "created_at"
    order      = "DESCENDING"
  }
}

# quiet_active: jobs where phase == active and updated_at < T order by updated_at (the reconciler reads only the
# few fields of the active jobs that have been quiet for a while, not every active job on every tick).
resource "google_firestore_index" "jobs_phase_updated_asc" {
  project    = var.project_id
  database   = google_firestore_database.this.name
  collection = "jobs"

  fields {
    field_path = "phase"
    order      = "ASCENDING"
  }

  fields {
    field_path = "updated_at"
    order      = "ASCENDING"
  }
}

# list_for_owner: jobs where owner == U order by created_at desc (the API's job list).
resource "google_firestore_index" "jobs_owner_created_desc" {
  project    = var.project_id
  database   = google_firestore_database.this.name
  collection = "jobs"

  fields {
    field_path = "owner"
    order      = "ASCENDING"
  }

  fields {
    field_path = "created_at"
    order      = "DESCENDING"
  }
}

# Signed calls from the cluster already received (shared/adapters/firestore_replay_guard.py): Firestore deletes
# each once its `expire_at` has passed, by which time its timestamp is refused anyway. Never queried: no indexes.
resource "google_firestore_field" "callback_signatures_ttl" {
  project    = var.project_id
  database   = google_firestore_database.this.name
  collection = "callback_signatures"
  field      = "expire_at"

  ttl_config {}
  index_config {}
}

# list_for_owner with a state filter: jobs where owner == U and state in [...] order by created_at desc (the API's
# job list filtered by state).
resource "google_firestore_index" "jobs_owner_state_created_desc" {
  project    = var.project_id
  database   = google_firestore_database.this.name
  collection = "jobs"

  fields {
    field_path = "owner"
    order      = "ASCENDING"
  }

  fields {
    field_path = "state"
    order      = "ASCENDING"
  }

  fields {
    field_path = "created_at"
    order      = "DESCENDING"
  }
}

# list_for_owner with whole phases: jobs where owner == U and phase in [...] order by created_at desc (the status
# page's and `olc` list of the jobs not ended yet: waiting and active).
resource "google_firestore_index" "jobs_owner_phase_created_desc" {
  project    = var.project_id
  database   = google_firestore_database.this.name
  collection = "jobs"

  fields {
    field_path = "owner"
    order      = "ASCENDING"
  }

  fields {
    field_path = "phase"
    order      = "ASCENDING"
  }

  fields {
    field_path = "created_at"
    order      = "DESCENDING"
  }
}

# list_for_owner with a design: jobs where owner == U and design_name == D order by created_at desc (a design's
# runs: the page /designs/D and `olc history D`).
resource "google_firestore_index" "jobs_owner_design_created_desc" {
  project    = var.project_id
  database   = google_firestore_database.this.name
  collection = "jobs"

  fields {
    field_path = "owner"
    order      = "ASCENDING"
  }

  fields {
    field_path = "design_name"
    order      = "ASCENDING"
  }

  fields {
    field_path = "created_at"
    order      = "DESCENDING"
  }
}

# list_for_owner with a design and a state filter: jobs where owner == U and design_name == D and state in [...]
# order by created_at desc.
resource "google_firestore_index" "jobs_owner_design_state_created_desc" {
  project    = var.project_id
  database   = google_firestore_database.this.name
  collection = "jobs"

  fields {
    field_path = "owner"
    order      = "ASCENDING"
  }

  fields {
    field_path = "design_name"
    order      = "ASCENDING"
  }

  fields {
    field_path = "state"
    order      = "ASCENDING"
  }

  fields {
    field_path = "created_at"
    order      = "DESCENDING"
  }
}
