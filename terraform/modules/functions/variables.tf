# ------------------------------------------------------------------------------------------------ placement
variable "project_id" {
  description = "Project of the functions (GOOGLE_CLOUD_PROJECT)."
  type        = string
}

variable "project_number" {
  description = "Project number, part of the functions' deterministic run.app URLs."
  type        = string

  validation {
    condition     = can(regex("^[0-9]+$", var.project_number))
    error_message = "project_number is the numeric project number."
  }
}

variable "region" {
  description = "Region of the functions; also the Eventarc trigger region (the designs bucket must be in it)."
  type        = string
}

variable "name_prefix" {
  description = "Prefix of the function and service account names (<prefix>-ingest, ...)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,14}$", var.name_prefix))
    error_message = "name_prefix is 2-15 characters of a-z, 0-9 and '-', starting with a letter (service account ids are short)."
  }
}

variable "labels" {
  description = "Labels applied to the functions."
  type        = map(string)
  default     = {}
}

variable "runtime" {
  description = "Cloud Functions Python runtime."
  type        = string
  default     = "python311"

  validation {
    condition     = can(regex("^python3[0-9]+$", var.runtime))
    error_message = "runtime is a Python runtime id such as python311."
  }
}

# ------------------------------------------------------------------------------------------------ source
variable "source_bucket" {
  description = "Bucket the source zip is uploaded to."
  type        = string
}

variable "source_zip_path" {
  description = "Local path of the zip built by infra/package_functions.sh (uploaded under its MD5, so a new zip redeploys)."
  type        = string
}

# -------------------------------------------------------------------------------------------------- settings
variable "settings" {
  description = "The tunable settings as environment variables (NAME = value), every NAME a variable of shared/config.py: the root derives them from its `service` object. Every function gets them, but ID_TOKEN_* only the one that verifies ID tokens."
  type        = map(string)

  validation {
    condition     = alltrue([for name in keys(var.settings) : can(regex("^[A-Z][A-Z0-9_]*$", name))])
    error_message = "settings are keyed by environment variable names such as JOB_CONCURRENCY."
  }

  # The dispatcher's timeout must cover its lease, and the hook's wait for Slurm must end before the hook's timeout.
  validation {
    condition     = tonumber(lookup(var.settings, "DISPATCH_LEASE_S", "0")) <= var.dispatcher_timeout_seconds && tonumber(lookup(var.settings, "COMPLETION_WAIT_S", "0")) < local.functions.completion.timeout
    error_message = "DISPATCH_LEASE_S must not exceed dispatcher_timeout_seconds, and COMPLETION_WAIT_S must be shorter than the completion hook's timeout."
  }

  # A git fetch (GIT_TIMEOUT_S, the code's default 120) must end, and its upload with it, before the fetcher's timeout.
  validation {
    condition     = tonumber(lookup(var.settings, "GIT_TIMEOUT_S", "120")) + 60 <= var.git_fetcher_timeout_seconds
    error_message = "GIT_TIMEOUT_S must be at least 60 s shorter than git_fetcher_timeout_seconds (the upload follows the fetch)."
  }
}

# ------------------------------------------------------------------------------------- wiring (from modules)
variable "designs_bucket" {
  description = "Designs bucket (DESIGNS_BUCKET); ingest's trigger watches it."
  type        = string
}

variable "results_bucket" {
  description = "Results bucket (RESULTS_BUCKET)."
  type        = string
}

variable "jobs_topic" {
  description = "Jobs topic name (JOBS_TOPIC)."
  type        = string
}

variable "git_fetch_topic" {
  description = "Git-fetch topic name (GIT_FETCH_TOPIC): the api publishes a git submission's `fetch` message to it."
  type        = string
}

variable "secret_ids" {
  description = "Secret ids by secret (module secrets); a function given secret `x` gets X_SECRET (SSH_KEY_SECRET, ...). smtp_password is empty for a relay without login."
  type = object({
    ssh_key       = string
    hook_key      = string
    smtp_password = string
  })
}

variable "login_node" {
  description = "How the functions find the login node: host (SLURM_LOGIN_HOST; empty: look it up by name with the Compute API), zone (LOGIN_NODE_ZONE) and name fragment (LOGIN_NODE_PATTERN)."
  type = object({
    host    = string
    zone    = string
    pattern = string
  })
}

# ------------------------------------------------------------------------------------ network and access
variable "vpc_egress" {
  description = "Give dispatcher and completion (only) Direct VPC egress, to SSH a login node that has only an internal address."
  type        = bool
  default     = false
}

variable "vpc_network" {
  description = "VPC network of the Direct VPC egress (name or self link); used when vpc_egress."
  type        = string
  default     = ""
}

variable "vpc_subnetwork" {
  description = "Subnetwork for Direct VPC egress (instances take addresses from it)."
  type        = string
  default     = ""
}

variable "network_tags" {
  description = "Network tags of the functions' VPC interfaces (the firewall lets these reach the login node's SSH)."
  type        = list(string)
  default     = []
}

variable "completion_ingress" {
  description = "Ingress of the completion hook: ALLOW_INTERNAL_ONLY when the cluster is in this project's VPC, else ALLOW_ALL."
  type        = string
  default     = "ALLOW_INTERNAL_ONLY"

  validation {
    condition     = contains(["ALLOW_ALL", "ALLOW_INTERNAL_ONLY", "ALLOW_INTERNAL_AND_GCLB"], var.completion_ingress)
    error_message = "completion_ingress is ALLOW_ALL, ALLOW_INTERNAL_ONLY or ALLOW_INTERNAL_AND_GCLB."
  }
}

variable "completion_invokers" {
  description = "IAM members (by a static key) allowed to call the completion hook: the compute nodes' service account."
  type        = map(string)
  default     = {}
}

# ------------------------------------------------------------------------------------------------ scaling
variable "ingest_max_instances" {
  description = "Most ingest instances (one upload each)."
  type        = number
  default     = 10

  validation {
    condition     = var.ingest_max_instances >= 1
    error_message = "ingest_max_instances must be at least 1."
  }
}

variable "dispatcher_max_instances" {
  description = "Most dispatcher instances. One holds the Firestore lease at a time; others return at once."
  type        = number
  default     = 2

  validation {
    condition     = var.dispatcher_max_instances >= 1 && var.dispatcher_max_instances <= 3
    error_message = "dispatcher_max_instances is 1-3: the dispatch lease lets only one work at a time."
  }
}

variable "dispatcher_timeout_seconds" {
  description = "Dispatcher timeout; at least DISPATCH_LEASE_S (60) so a holder never outlives its lease unnoticed."
  type        = number
  default     = 300

  validation {
    condition     = var.dispatcher_timeout_seconds >= 120 && var.dispatcher_timeout_seconds <= 600
    error_message = "dispatcher_timeout_seconds is 120-600 (Pub/Sub push waits at most 600 s)."
  }
}

variable "completion_max_instances" {
  description = "Most completion hook instances."
  type        = number
  default     = 10

  validation {
    condition     = var.completion_max_instances >= 1
    error_message = "completion_max_instances must be at least 1."
  }
}

variable "git_fetcher_max_instances" {
  description = "Most git fetcher instances (one fetch each): git fetches running at once."
  type        = number
  default     = 5

  validation {
    condition     = var.git_fetcher_max_instances >= 1
    error_message = "git_fetcher_max_instances must be at least 1."
  }
}

variable "git_fetcher_timeout_seconds" {
  description = "Git fetcher timeout: GIT_TIMEOUT_S plus the upload (Pub/Sub push waits at most 600 s)."
  type        = number
  default     = 300

  validation {
    condition     = var.git_fetcher_timeout_seconds >= 120 && var.git_fetcher_timeout_seconds <= 600
    error_message = "git_fetcher_timeout_seconds is 120-600 (Pub/Sub push waits at most 600 s)."
  }
}

variable "api_max_instances" {
  description = "Most API instances."
  type        = number
  default     = 10

  validation {
    condition     = var.api_max_instances >= 1
    error_message = "api_max_instances must be at least 1."
  }
}
