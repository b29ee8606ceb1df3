# Collector pool for Azure virtual network TAP.
#
#   tapped VM NICs --(tap configuration)--> VTAP --(VXLAN UDP 4789)-->
#     internal Standard load balancer (private frontend) --> scale set
#
# azurerm has no virtual network TAP resource, so the VTAP and the per-NIC
# tap configurations go through azapi (the ARM API).
#
# Azure VTAP sets no VNI of your choosing: every tapped NIC arrives with the
# same VNI, so run the collector with --lane-key vni+source to give each
# source VM its own lane (see collector_args).

locals {
  location = coalesce(var.location, data.azurerm_resource_group.this.location)
  ha_ports = var.lb_rule == "ha-ports"

  cloud_init_vars = {
    health_port          = var.health_port
    collector_args       = var.collector_args
    source_git_url       = var.source_git_url == null ? "" : var.source_git_url
    source_git_ref       = var.source_git_ref
    stop_timeout_seconds = var.drain_timeout_minutes * 60 - 30
  }
  custom_data = templatefile(coalesce(var.cloud_init_path, "${path.module}/templates/cloud-init.yaml.tftpl"), local.cloud_init_vars)
}

data "azurerm_resource_group" "this" {
  name = var.resource_group_name
}

# ---------------------------------------------------------------------------
# NSG: the mirror feed and the load balancer's probes in, nothing else
# ---------------------------------------------------------------------------

resource "azurerm_network_security_group" "collector" {
  name                = "${var.name}-nsg"
  location            = local.location
  resource_group_name = var.resource_group_name

  tags = var.tags
}

resource "azurerm_network_security_rule" "vxlan" {
  name                        = "allow-vxlan-from-sources"
  description                 = "VTAP mirror feed: VXLAN on UDP 4789"
  resource_group_name         = var.resource_group_name
  network_security_group_name = azurerm_network_security_group.collector.name
  priority                    = 100
  direction                   = "Inbound"
  access                      = "Allow"
  protocol                    = "Udp"
  source_port_range           = "*"
  destination_port_range      = "4789"
  source_address_prefix       = var.mirror_source_address_prefix
  destination_address_prefix  = "*"
}

# Probes come from 168.63.129.16, which the AzureLoadBalancer tag stands for.
resource "azurerm_network_security_rule" "health_probe" {
  name                        = "allow-lb-health-probe"
  description                 = "Load balancer probes to /healthz"
  resource_group_name         = var.resource_group_name
  network_security_group_name = azurerm_network_security_group.collector.name
  priority                    = 110
  direction                   = "Inbound"
  access                      = "Allow"
  protocol                    = "Tcp"
  source_port_range           = "*"
  destination_port_range      = tostring(var.health_port)
  source_address_prefix       = "AzureLoadBalancer"
  destination_address_prefix  = "*"
}

resource "azurerm_network_security_rule" "ssh" {
  count = length(var.ssh_source_address_prefixes) == 0 ? 0 : 1

  name                        = "allow-ssh"
  description                 = "SSH from the management prefixes"
  resource_group_name         = var.resource_group_name
  network_security_group_name = azurerm_network_security_group.collector.name
  priority                    = 120
  direction                   = "Inbound"
  access                      = "Allow"
  protocol                    = "Tcp"
  source_port_range           = "*"
  destination_port_range      = "22"
  source_address_prefixes     = var.ssh_source_address_prefixes
  destination_address_prefix  = "*"
}

# The default rules would let the whole virtual network in; this stops that.
resource "azurerm_network_security_rule" "deny_other_inbound" {
  name                        = "deny-other-inbound"
  description                 = "Nothing else in"
  resource_group_name         = var.resource_group_name
  network_security_group_name = azurerm_network_security_group.collector.name
  priority                    = 4000
  direction                   = "Inbound"
  access                      = "Deny"
  protocol                    = "*"
  source_port_range           = "*"
  destination_port_range      = "*"
  source_address_prefix       = "*"
  destination_address_prefix  = "*"
}

# ---------------------------------------------------------------------------
# Internal Standard load balancer: the VTAP destination
# ---------------------------------------------------------------------------

resource "azurerm_lb" "collector" {
  name                = "${var.name}-ilb"
  location            = local.location
  resource_group_name = var.resource_group_name
  sku                 = "Standard"

  # Private frontend only: the VTAP sends to this address.
  frontend_ip_configuration {
    name                          = "mirror"
    subnet_id                     = var.subnet_id
    private_ip_address_version    = "IPv4"
    private_ip_address_allocation = var.frontend_private_ip == null ? "Dynamic" : "Static"
    private_ip_address            = var.frontend_private_ip
  }

  tags = var.tags
}

resource "azurerm_lb_backend_address_pool" "collector" {
  name            = "collectors"
  loadbalancer_id = azurerm_lb.collector.id
}

# /healthz answers 503 while a collector drains, so the load balancer moves
# new flows away before the instance goes.
resource "azurerm_lb_probe" "healthz" {
  name                = "healthz"
  loadbalancer_id     = azurerm_lb.collector.id
  protocol            = "Http"
  port                = var.health_port
  request_path        = "/healthz"
  interval_in_seconds = 5
  number_of_probes    = 2
}

# Source-IP affinity keeps each tapped VM on one collector (its packets stay
# in one lane's files), and keeps every fragment of a datagram together so
# the collector can reassemble it.
resource "azurerm_lb_rule" "ha_ports" {
  count = local.ha_ports ? 1 : 0

  name                           = "ha-ports"
  loadbalancer_id                = azurerm_lb.collector.id
  frontend_ip_configuration_name = azurerm_lb.collector.frontend_ip_configuration[0].name
  backend_address_pool_ids       = [azurerm_lb_backend_address_pool.collector.id]
  probe_id                       = azurerm_lb_probe.healthz.id
  protocol                       = "All"
  frontend_port                  = 0
  backend_port                   = 0
  load_distribution              = "SourceIP"
}

resource "azurerm_lb_rule" "vxlan" {
  count = local.ha_ports ? 0 : 1

  name                           = "vxlan-udp-4789"
  loadbalancer_id                = azurerm_lb.collector.id
  frontend_ip_configuration_name = azurerm_lb.collector.frontend_ip_configuration[0].name
  backend_address_pool_ids       = [azurerm_lb_backend_address_pool.collector.id]
  probe_id                       = azurerm_lb_probe.healthz.id
  protocol                       = "Udp"
  frontend_port                  = 4789
  backend_port                   = 4789
  load_distribution              = "SourceIP"
}

# ---------------------------------------------------------------------------
# Collectors: scale set across the zones
# ---------------------------------------------------------------------------

resource "azurerm_linux_virtual_machine_scale_set" "collector" {
  name                            = "${var.name}-vmss"
  location                        = local.location
  resource_group_name             = var.resource_group_name
  sku                             = var.vm_size
  instances                       = var.instances
  zones                           = var.zones
  zone_balance                    = true
  upgrade_mode                    = "Manual"
  admin_username                  = var.admin_username
  disable_password_authentication = true
  custom_data                     = base64encode(local.custom_data)

  # Extra instances made and deleted during a scale-out would briefly take
  # mirror flows and drop them.
  overprovision = false

  admin_ssh_key {
    username   = var.admin_username
    public_key = var.admin_ssh_public_key
  }

  source_image_reference {
    publisher = var.source_image.publisher
    offer     = var.source_image.offer
    sku       = var.source_image.sku
    version   = var.source_image.version
  }

  os_disk {
    caching              = "ReadWrite"
    storage_account_type = "Premium_LRS"
    disk_size_gb         = var.os_disk_size_gb
  }

  network_interface {
    name                          = "${var.name}-nic"
    primary                       = true
    enable_accelerated_networking = true
    network_security_group_id     = azurerm_network_security_group.collector.id

    ip_configuration {
      name                                   = "internal"
      primary                                = true
      subnet_id                              = var.subnet_id
      load_balancer_backend_address_pool_ids = [azurerm_lb_backend_address_pool.collector.id]
    }
  }

  # Scale-in drain: the instance gets a Terminate scheduled event and this long
  # to act on it; its drain watcher stops vxcollector (SIGTERM: /healthz 503,
  # files completed) and then approves the event.
  termination_notification {
    enabled = true
    timeout = "PT${var.drain_timeout_minutes}M"
  }

  boot_diagnostics {}

  tags = var.tags
}

# ---------------------------------------------------------------------------
# Virtual network TAP (azapi: azurerm has no resource for it)
# ---------------------------------------------------------------------------

resource "azapi_resource" "vtap" {
  type      = "Microsoft.Network/virtualNetworkTaps@2023-09-01"
  name      = "${var.name}-vtap"
  parent_id = data.azurerm_resource_group.this.id
  location  = local.location

  body = {
    properties = {
      destinationLoadBalancerFrontEndIPConfiguration = {
        id = azurerm_lb.collector.frontend_ip_configuration[0].id
      }
      destinationPort = 4789
    }
  }

  tags = var.tags
}

resource "azapi_resource" "tap_configuration" {
  for_each = toset(var.source_nic_ids)

  type      = "Microsoft.Network/networkInterfaces/tapConfigurations@2023-09-01"
  name      = "${var.name}-tap"
  parent_id = each.value

  body = {
    properties = {
      virtualNetworkTap = {
        id = azapi_resource.vtap.id
      }
    }
  }
}
