variable "project_id" {
  description = "Project of the metrics, alerts and dashboard."
  type        = string
}

variable "name_prefix" {
  description = "Prefix of the log-based metric names (<prefix>/jobs_ended, ...)."
  type        = string
  default     = "olc"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,14}$", var.name_prefix))
    error_message = "name_prefix is 2-15 characters of a-z, 0-9 and '-', starting with a letter."
  }
}

variable "service_names" {
  description = "Cloud Run service of each function (ingest, dispatcher, completion, api): the logs' resource.labels.service_name."
  type        = map(string)

  validation {
    condition     = length(setsubtract(["ingest", "dispatcher", "completion", "api"], keys(var.service_names))) == 0
    error_message = "service_names needs the keys ingest, dispatcher, completion and api."
  }
}

variable "dead_letter_subscription" {
  description = "Subscription of the jobs dead-letter topic (alerted on when it holds messages)."
  type        = string
}

variable "alert_emails" {
  description = "E-mail addresses notified by the alert policies (none: alerts show in the console only)."
  type        = list(string)
  default     = []
}

variable "failed_jobs_threshold" {
  description = "Alert when more runs than this end FAILED within an hour."
  type        = number
  default     = 5

  validation {
    condition     = var.failed_jobs_threshold >= 0
    error_message = "failed_jobs_threshold cannot be negative."
  }
}

variable "queue_wait_alert_seconds" {
  description = "Alert when the 95th percentile of the queue wait over 30 minutes exceeds this."
  type        = number
  default     = 3600

  validation {
    condition     = var.queue_wait_alert_seconds > 0
    error_message = "queue_wait_alert_seconds must be positive."
  }
}
