# The four buckets of a deployment. Secure defaults on all of them: uniform bucket-level access (no object ACLs),
# public access prevention enforced, regional location next to the functions and the cluster.

locals {
  # Users write only below their own e-mail folder and read only their own results: IAM conditions on the object
  # name, so the owner segment of an upload (shared/domain/upload.py) cannot be forged.
  uploaders = { for email in var.uploaders : lower(email) => lower(email) }
}

# Users upload design archives here as <email>/<file>. Versioned, so an overwrite keeps the archive a finished or
# running job was built from (a job names the exact generation it read).
resource "google_storage_bucket" "designs" {
  #checkov:skip=CKV_GCP_62:Usage/access logs go to Cloud Audit Logs (data access logs), not to a second log bucket.
  project                     = var.project_id
  name                        = var.designs_bucket_name
  location                    = var.location
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = var.force_destroy
  labels                      = var.labels

  versioning {
    enabled = true
  }

  # The status page uploads from the browser straight to a signed URL (PUT with the notify metadata).
  dynamic "cors" {
    for_each = length(var.upload_origins) > 0 ? [var.upload_origins] : []
    content {
      origin          = cors.value
      method          = ["PUT"]
      response_header = ["Content-Type", "x-goog-meta-notify", "x-goog-meta-cache"]
      max_age_seconds = 3600
    }
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = var.designs_noncurrent_days
      with_state                 = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }

  dynamic "lifecycle_rule" {
    for_each = var.designs_retention_days > 0 ? [var.designs_retention_days] : []
    content {
      condition {
        age        = lifecycle_rule.value
        with_state = "LIVE"
      }
      action {
        type = "Delete"
      }
    }
  }
}

# The runs write layouts, reports, logs and the manifest here as <email>/<job id>/. Old results expire.
resource "google_storage_bucket" "results" {
  #checkov:skip=CKV_GCP_62:Usage/access logs go to Cloud Audit Logs (data access logs), not to a second log bucket.
  #checkov:skip=CKV_GCP_78:Results are written once per job id and expire by lifecycle; versions would only add cost.
  project                     = var.project_id
  name                        = var.results_bucket_name
  location                    = var.location
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = var.force_destroy
  labels                      = var.labels

  # The job page fetches a sweep's Pareto SVG through its signed link and shows it inline (its points link to runs).
  dynamic "cors" {
    for_each = length(var.upload_origins) > 0 ? [var.upload_origins] : []
    content {
      origin          = cors.value
      method          = ["GET"]
      response_header = ["Content-Type"]
      max_age_seconds = 3600
    }
  }

  lifecycle_rule {
    condition {
      age = var.results_retention_days
    }
    action {
      type = "Delete"
    }
  }
}

# Singularity/Apptainer images built by singularity/containerbuilder.yaml; infra/place_image.sh copies them to /apps.
resource "google_storage_bucket" "images" {
  #checkov:skip=CKV_GCP_62:Usage/access logs go to Cloud Audit Logs (data access logs), not to a second log bucket.
  #checkov:skip=CKV_GCP_78:Images are rebuilt from pinned definitions in git; each build also writes a build-id copy.
  project                     = var.project_id
  name                        = var.images_bucket_name
  location                    = var.location
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = var.force_destroy
  labels                      = var.labels

  lifecycle_rule {
    condition {
      age            = var.images_build_copies_days
      matches_prefix = ["images/builds/"]
    }
    action {
      type = "Delete"
    }
  }
}

# Zipped function source (infra/package_functions.sh), named by content hash; Cloud Functions builds read it.
resource "google_storage_bucket" "function_source" {
  #checkov:skip=CKV_GCP_62:Usage/access logs go to Cloud Audit Logs (data access logs), not to a second log bucket.
  #checkov:skip=CKV_GCP_78:Objects are named by content hash and rebuilt from git; versions would only add cost.
  project                     = var.project_id
  name                        = var.function_source_bucket_name
  location                    = var.location
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = var.force_destroy
  labels                      = var.labels
}

# ------------------------------------------------------------------------------------------- who may do what

# Each listed user may create objects only below designs/<their e-mail>/ ...
resource "google_storage_bucket_iam_member" "uploader_creates_own_designs" {
  for_each = local.uploaders
  bucket   = google_storage_bucket.designs.name
  role     = "roles/storage.objectCreator"
  member   = "user:${each.value}"

  condition {
    title       = "own-folder-only"
    description = "Uploads only below the user's own e-mail folder, which names the job's owner."
    expression  = "resource.name.startsWith(\"projects/_/buckets/${google_storage_bucket.designs.name}/objects/${each.value}/\")"
  }
}

# ... and read only results/<their e-mail>/ (exact object names come from the API's job record).
resource "google_storage_bucket_iam_member" "uploader_reads_own_results" {
  for_each = local.uploaders
  bucket   = google_storage_bucket.results.name
  role     = "roles/storage.objectViewer"
  member   = "user:${each.value}"

  condition {
    title       = "own-folder-only"
    description = "Reads only below the user's own e-mail folder."
    expression  = "resource.name.startsWith(\"projects/_/buckets/${google_storage_bucket.results.name}/objects/${each.value}/\")"
  }
}

resource "google_storage_bucket_iam_member" "design_readers" {
  for_each = var.design_readers
  bucket   = google_storage_bucket.designs.name
  role     = "roles/storage.objectViewer"
  member   = each.value
}

# The git fetcher creates and reads (to see whether it already did) only the packed designs of git submissions,
# <owner>/olc-git/<job id>.tar.gz: it never reads, overwrites or deletes anyone's uploads. It runs git against
# user-given hosts, so it holds as little as possible.
locals {
  git_designs_only = {
    title       = "git-designs-only"
    description = "Only the packed designs of git submissions: <owner>/olc-git/..."
    expression  = "resource.name.extract(\"projects/_/buckets/${google_storage_bucket.designs.name}/objects/{owner}/olc-git/\") != \"\""
  }
}

resource "google_storage_bucket_iam_member" "git_design_creators" {
  for_each = var.git_design_writers
  bucket   = google_storage_bucket.designs.name
  role     = "roles/storage.objectCreator"
  member   = each.value

  condition {
    title       = local.git_designs_only.title
    description = local.git_designs_only.description
    expression  = local.git_designs_only.expression
  }
}

resource "google_storage_bucket_iam_member" "git_design_readers" {
  for_each = var.git_design_writers
  bucket   = google_storage_bucket.designs.name
  role     = "roles/storage.objectViewer"
  member   = each.value

  condition {
    title       = local.git_designs_only.title
    description = local.git_designs_only.description
    expression  = local.git_designs_only.expression
  }
}

# The API signs users' upload links and copies a job's upload to rerun it (a server-side rewrite to a new name).
resource "google_storage_bucket_iam_member" "design_upload_signers" {
  for_each = var.design_upload_signers
  bucket   = google_storage_bucket.designs.name
  role     = "roles/storage.objectCreator"
  member   = each.value
}

resource "google_storage_bucket_iam_member" "result_readers" {
  for_each = var.result_readers
  bucket   = google_storage_bucket.results.name
  role     = "roles/storage.objectViewer"
  member   = each.value
}

# objectUser (create + overwrite): a run that Slurm requeues writes the same object names again.
resource "google_storage_bucket_iam_member" "result_writers" {
  for_each = var.result_writers
  bucket   = google_storage_bucket.results.name
  role     = "roles/storage.objectUser"
  member   = each.value
}

resource "google_storage_bucket_iam_member" "image_readers" {
  for_each = var.image_readers
  bucket   = google_storage_bucket.images.name
  role     = "roles/storage.objectViewer"
  member   = each.value
}

resource "google_storage_bucket_iam_member" "image_writers" {
  for_each = var.image_writers
  bucket   = google_storage_bucket.images.name
  role     = "roles/storage.objectUser"
  member   = each.value
}
