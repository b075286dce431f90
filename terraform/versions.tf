terraform {
  # 1.11+: write-only arguments and ephemeral resources keep the hook key out of state (modules/secrets).
  required_version = ">= 1.11.0, < 2.0.0"

  required_providers {
    google = {
      source = "hashicorp/google"
      # 7.21+: Direct VPC egress of 2nd gen functions (service_config.direct_vpc_network_interface).
      version = ">= 7.21.0, < 8.0.0"
    }
    random = {
      source  = "hashicorp/random"
      version = ">= 3.7.0, < 4.0.0"
    }
  }

  # State in a Cloud Storage bucket you create once (docs/deploy.md):
  #   terraform init -backend-config="bucket=STATE_BUCKET" -backend-config="prefix=openlane-cloud"
  backend "gcs" {}
}
