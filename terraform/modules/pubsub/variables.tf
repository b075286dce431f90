variable "project_id" {
  description = "Project that owns the topics and subscriptions."
  type        = string
}

variable "project_number" {
  description = "Project number, which names the Pub/Sub service agent."
  type        = string

  validation {
    condition     = can(regex("^[0-9]+$", var.project_number))
    error_message = "project_number is the numeric project number."
  }
}

variable "jobs_topic_name" {
  description = "Topic the dispatcher listens on for \"queued\" and \"slot-freed\" (JOBS_TOPIC)."
  type        = string
  default     = "olc-jobs"

  validation {
    condition     = can(regex("^[A-Za-z][A-Za-z0-9._~%+-]{2,230}$", var.jobs_topic_name))
    error_message = "Topic names start with a letter and are 3-231 characters of letters, digits and - . _ ~ % +."
  }
}

variable "tick_topic_name" {
  description = "Topic Cloud Scheduler publishes the dispatcher's tick to."
  type        = string
  default     = "olc-tick"

  validation {
    condition     = can(regex("^[A-Za-z][A-Za-z0-9._~%+-]{2,230}$", var.tick_topic_name))
    error_message = "Topic names start with a letter and are 3-231 characters of letters, digits and - . _ ~ % +."
  }
}

variable "git_fetch_topic_name" {
  description = "Topic the git fetcher listens on for \"fetch\" (GIT_FETCH_TOPIC)."
  type        = string
  default     = "olc-git-fetches"

  validation {
    condition     = can(regex("^[A-Za-z][A-Za-z0-9._~%+-]{2,230}$", var.git_fetch_topic_name))
    error_message = "Topic names start with a letter and are 3-231 characters of letters, digits and - . _ ~ % +."
  }
}

variable "dispatcher_url" {
  description = "HTTPS URL of the dispatcher function (push endpoint base and OIDC audience)."
  type        = string

  validation {
    condition     = startswith(var.dispatcher_url, "https://")
    error_message = "dispatcher_url must be an https:// URL."
  }
}

variable "dispatcher_ack_deadline_seconds" {
  description = "Seconds Pub/Sub waits for the dispatcher to answer a push (at least its timeout)."
  type        = number
  default     = 300

  validation {
    condition     = var.dispatcher_ack_deadline_seconds >= 10 && var.dispatcher_ack_deadline_seconds <= 600
    error_message = "Pub/Sub ack deadlines are 10-600 seconds."
  }
}

variable "git_fetcher_url" {
  description = "HTTPS URL of the git fetcher function (push endpoint base and OIDC audience)."
  type        = string

  validation {
    condition     = startswith(var.git_fetcher_url, "https://")
    error_message = "git_fetcher_url must be an https:// URL."
  }
}

variable "git_fetcher_ack_deadline_seconds" {
  description = "Seconds Pub/Sub waits for the git fetcher to answer a push (at least its timeout)."
  type        = number
  default     = 300

  validation {
    condition     = var.git_fetcher_ack_deadline_seconds >= 10 && var.git_fetcher_ack_deadline_seconds <= 600
    error_message = "Pub/Sub ack deadlines are 10-600 seconds."
  }
}

variable "push_service_account_email" {
  description = "E-mail of the identity Pub/Sub pushes as (it holds run.invoker on the dispatcher and the git fetcher)."
  type        = string
}

variable "push_service_account_name" {
  description = "Full resource name (projects/P/serviceAccounts/E) of the push identity."
  type        = string
}

variable "max_delivery_attempts" {
  description = "Deliveries of a jobs or fetch message before it is dead-lettered (Pub/Sub allows 5-100)."
  type        = number
  default     = 10

  validation {
    condition     = var.max_delivery_attempts >= 5 && var.max_delivery_attempts <= 100
    error_message = "max_delivery_attempts must be between 5 and 100."
  }
}

variable "jobs_publishers" {
  description = "IAM members (by a static key) allowed to publish to the jobs topic."
  type        = map(string)
  default     = {}
}

variable "git_fetch_publishers" {
  description = "IAM members (by a static key) allowed to publish to the git-fetch topic."
  type        = map(string)
  default     = {}
}

variable "labels" {
  description = "Labels applied to topics and subscriptions."
  type        = map(string)
  default     = {}
}
