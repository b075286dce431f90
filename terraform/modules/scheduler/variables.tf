variable "project_id" {
  description = "Project of the scheduler job."
  type        = string
}

variable "region" {
  description = "Region of the scheduler job."
  type        = string
}

variable "name" {
  description = "Name of the scheduler job."
  type        = string
  default     = "olc-dispatcher-tick"

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,500}$", var.name))
    error_message = "Scheduler job names are letters, digits, '_' and '-'."
  }
}

variable "topic_id" {
  description = "Full id (projects/P/topics/T) of the tick topic."
  type        = string

  validation {
    condition     = can(regex("^projects/[^/]+/topics/[^/]+$", var.topic_id))
    error_message = "topic_id is projects/PROJECT/topics/TOPIC."
  }
}

variable "schedule" {
  description = "Cron schedule of the tick (UTC). Every minute by default; Cloud Scheduler's finest resolution."
  type        = string
  default     = "* * * * *"

  validation {
    condition     = length(split(" ", trimspace(var.schedule))) == 5
    error_message = "schedule is a five-field cron expression."
  }
}

variable "paused" {
  description = "Pause the tick (e.g. during maintenance of the cluster)."
  type        = bool
  default     = false
}
