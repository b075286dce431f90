variable "project_id" {
  description = "Project that owns the buckets."
  type        = string
}

variable "location" {
  description = "Bucket location: the region of the functions and the cluster (Eventarc storage triggers must match it)."
  type        = string
}

variable "designs_bucket_name" {
  description = "Globally unique name of the bucket users upload design archives to."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$", var.designs_bucket_name))
    error_message = "Bucket names are 3-63 characters of a-z, 0-9, '-', '_' and '.', starting and ending alphanumeric."
  }
}

variable "results_bucket_name" {
  description = "Globally unique name of the bucket the runs write results to."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$", var.results_bucket_name))
    error_message = "Bucket names are 3-63 characters of a-z, 0-9, '-', '_' and '.', starting and ending alphanumeric."
  }
}

variable "images_bucket_name" {
  description = "Globally unique name of the bucket holding the Singularity/Apptainer images."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$", var.images_bucket_name))
    error_message = "Bucket names are 3-63 characters of a-z, 0-9, '-', '_' and '.', starting and ending alphanumeric."
  }
}

variable "function_source_bucket_name" {
  description = "Globally unique name of the bucket holding the zipped function source."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$", var.function_source_bucket_name))
    error_message = "Bucket names are 3-63 characters of a-z, 0-9, '-', '_' and '.', starting and ending alphanumeric."
  }
}

variable "labels" {
  description = "Labels applied to every bucket."
  type        = map(string)
  default     = {}
}

variable "force_destroy" {
  description = "Let `terraform destroy` delete buckets that still hold objects (uploads, results, images)."
  type        = bool
  default     = false
}

variable "results_retention_days" {
  description = "Days after which results are deleted."
  type        = number
  default     = 90

  validation {
    condition     = var.results_retention_days >= 1 && floor(var.results_retention_days) == var.results_retention_days
    error_message = "results_retention_days must be a whole number of days, at least 1."
  }
}

variable "designs_retention_days" {
  description = "Days after which uploaded archives are deleted; 0 keeps them."
  type        = number
  default     = 0

  validation {
    condition     = var.designs_retention_days >= 0 && floor(var.designs_retention_days) == var.designs_retention_days
    error_message = "designs_retention_days must be a whole number of days (0 keeps uploads)."
  }
}

variable "designs_noncurrent_days" {
  description = "Days an overwritten (noncurrent) design archive is kept before deletion."
  type        = number
  default     = 30

  validation {
    condition     = var.designs_noncurrent_days >= 1 && floor(var.designs_noncurrent_days) == var.designs_noncurrent_days
    error_message = "designs_noncurrent_days must be a whole number of days, at least 1."
  }
}

variable "images_build_copies_days" {
  description = "Days the per-build copies of images (images/builds/) are kept; the current images/<name>.sif stays."
  type        = number
  default     = 30

  validation {
    condition     = var.images_build_copies_days >= 1
    error_message = "images_build_copies_days must be at least 1."
  }
}

variable "uploaders" {
  description = "E-mail addresses of users allowed to upload (to designs/<e-mail>/) and read their results (results/<e-mail>/)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for e in var.uploaders : can(regex("^[^@/\\s]+@[^@/\\s]+$", e))])
    error_message = "Each uploader must be a plain e-mail address (it becomes the user's folder name)."
  }
}

variable "design_readers" {
  description = "IAM members (by a static key) that may read every uploaded archive: ingest, the compute nodes, and the api (a rerun copies its parent's upload)."
  type        = map(string)
  default     = {}
}

variable "upload_origins" {
  description = "Web origins (the status page's) allowed to PUT uploads to signed URLs of the designs bucket."
  type        = list(string)
  default     = []
}

variable "design_upload_signers" {
  description = "IAM members (by a static key) that sign upload links for users: they may create designs objects."
  type        = map(string)
  default     = {}
}

variable "git_design_writers" {
  description = "IAM members (by a static key) that may create and read only the packed designs of git submissions (<owner>/olc-git/ in the designs bucket): the git fetcher."
  type        = map(string)
  default     = {}
}

variable "result_readers" {
  description = "IAM members (by a static key) that may read every result: the completion hook."
  type        = map(string)
  default     = {}
}

variable "result_writers" {
  description = "IAM members (by a static key) that may create, overwrite and delete results: the compute nodes, the api, completion, dispatcher, and ingest (copies reused results)."
  type        = map(string)
  default     = {}
}

variable "image_readers" {
  description = "IAM members (by a static key) that may read the images: the login node that places them on /apps."
  type        = map(string)
  default     = {}
}

variable "image_writers" {
  description = "IAM members (by a static key) that may write the images: the Cloud Build service account of containerbuilder.yaml."
  type        = map(string)
  default     = {}
}
