variable "project_id" {
  description = "Project of the database."
  type        = string
}

variable "location_id" {
  description = "Firestore location: a region (e.g. us-central1) or a multi-region (nam5, eur3). Cannot change later."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9-]+$", var.location_id))
    error_message = "location_id is a Firestore location id such as us-central1 or nam5."
  }
}

variable "point_in_time_recovery" {
  description = "Keep 7 days of point-in-time recovery (billed as storage)."
  type        = bool
  default     = true
}

variable "delete_protection" {
  description = "Protect the database from deletion; `terraform destroy` then leaves it in place (deletion_policy ABANDON)."
  type        = bool
  default     = true
}
