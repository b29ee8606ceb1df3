terraform {
  # optional() object attributes need 1.3; nothing here needs more.
  required_version = ">= 1.3.0"

  required_providers {
    # 3.x: the NIC setting is enable_accelerated_networking (4.x renames it
    # accelerated_networking_enabled).
    azurerm = {
      source  = "hashicorp/azurerm"
      version = ">= 3.90, < 4.0"
    }
    # azurerm has no virtual network TAP resource; azapi reaches the ARM API.
    azapi = {
      source  = "Azure/azapi"
      version = ">= 2.0, < 3.0"
    }
  }
}
