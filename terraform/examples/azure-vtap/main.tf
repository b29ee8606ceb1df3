# Tap two web VMs with Azure virtual network TAP and send the feed to a
# collector pool behind an internal Standard load balancer.

terraform {
  required_version = ">= 1.3.0"

  required_providers {
    azurerm = {
      source  = "hashicorp/azurerm"
      version = ">= 3.90, < 4.0"
    }
    azapi = {
      source  = "Azure/azapi"
      version = ">= 2.0, < 3.0"
    }
  }
}

provider "azurerm" {
  features {}
}

provider "azapi" {}

data "azurerm_subnet" "collectors" {
  name                 = "snet-collectors"
  virtual_network_name = "vnet-prod-weu"
  resource_group_name  = "rg-network-prod"
}

data "azurerm_network_interface" "web" {
  for_each = toset(["vm-web-01-nic", "vm-web-02-nic"])

  name                = each.key
  resource_group_name = "rg-web-prod"
}

module "collectors" {
  source = "../../modules/azure-vtap-collector-pool"

  name                = "vxc-prod"
  resource_group_name = "rg-mirror-prod"
  location            = "westeurope"
  subnet_id           = data.azurerm_subnet.collectors.id

  vm_size                     = "Standard_D4s_v5"
  instances                   = 2
  zones                       = ["1", "2", "3"]
  admin_ssh_public_key        = file(pathexpand("~/.ssh/id_ed25519.pub"))
  ssh_source_address_prefixes = ["10.40.255.0/26"]

  health_port         = 9469
  lb_rule             = "ha-ports"
  frontend_private_ip = "10.40.8.10"

  source_nic_ids = [for nic in data.azurerm_network_interface.web : nic.id]

  tags = {
    Project = "vxcollector"
    Team    = "netops"
  }
}

output "frontend_private_ip" {
  description = "Address the VTAP sends VXLAN to."
  value       = module.collectors.frontend_private_ip
}

output "vtap_id" {
  description = "Virtual network TAP ID."
  value       = module.collectors.vtap_id
}
