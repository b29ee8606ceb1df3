output "vmss_id" {
  description = "ID of the collectors' virtual machine scale set."
  value       = azurerm_linux_virtual_machine_scale_set.collector.id
}

output "vmss_name" {
  description = "Name of the collectors' virtual machine scale set."
  value       = azurerm_linux_virtual_machine_scale_set.collector.name
}

output "load_balancer_id" {
  description = "ID of the internal Standard load balancer."
  value       = azurerm_lb.collector.id
}

output "frontend_ip_configuration_id" {
  description = "ID of the load balancer's private frontend: the VTAP destination."
  value       = azurerm_lb.collector.frontend_ip_configuration[0].id
}

output "frontend_private_ip" {
  description = "Private address of the load balancer frontend that the VTAP sends VXLAN to."
  value       = azurerm_lb.collector.frontend_ip_configuration[0].private_ip_address
}

output "vtap_id" {
  description = "ID of the virtual network TAP; tap configurations made outside this module point at it."
  value       = azapi_resource.vtap.id
}

output "tap_configuration_ids" {
  description = "Tap configuration ID per source NIC ID."
  value       = { for nic, t in azapi_resource.tap_configuration : nic => t.id }
}

output "network_security_group_id" {
  description = "ID of the collectors' network security group."
  value       = azurerm_network_security_group.collector.id
}
