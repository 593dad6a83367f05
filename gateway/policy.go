package gateway

import (
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	reflectionv1alpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"

	pb "github.com/plantwin/plantwin/api/plantwin/v1"
	"github.com/plantwin/plantwin/gateway/auth"
)

// Policy is the role each method needs: viewers read, watch, query
// history, commands, alarms and the audit trail; operators also write
// desired values, invoke commands and acknowledge and shelve alarms;
// admins do everything,
// including backups. Reflection is open to any authenticated caller.
// Methods missing here need the admin role.
func Policy() map[string]auth.Role {
	return map[string]auth.Role{
		pb.TwinService_GetTwin_FullMethodName:          auth.RoleViewer,
		pb.TwinService_ListTwins_FullMethodName:        auth.RoleViewer,
		pb.TwinService_WatchTwins_FullMethodName:       auth.RoleViewer,
		pb.TwinService_GetHistory_FullMethodName:       auth.RoleViewer,
		pb.TwinService_UpdateDesired_FullMethodName:    auth.RoleOperator,
		pb.TwinService_InvokeCommand_FullMethodName:    auth.RoleOperator,
		pb.TwinService_GetCommand_FullMethodName:       auth.RoleViewer,
		pb.TwinService_ListCommands_FullMethodName:     auth.RoleViewer,
		pb.TwinService_ListAlarms_FullMethodName:       auth.RoleViewer,
		pb.TwinService_AcknowledgeAlarm_FullMethodName: auth.RoleOperator,
		pb.TwinService_ShelveAlarm_FullMethodName:      auth.RoleOperator,
		pb.TwinService_GetAudit_FullMethodName:         auth.RoleViewer,
		pb.ModelService_ListModels_FullMethodName:      auth.RoleViewer,
		pb.ModelService_GetModel_FullMethodName:        auth.RoleViewer,
		pb.NodeService_GetNode_FullMethodName:          auth.RoleViewer,
		pb.NodeService_ListMembers_FullMethodName:      auth.RoleViewer,
		pb.NodeService_DrainNode_FullMethodName:        auth.RoleAdmin,
		pb.NodeService_RemoveNode_FullMethodName:       auth.RoleAdmin,
		pb.EdgeService_ListConnectors_FullMethodName:   auth.RoleViewer,
		pb.AdminService_Backup_FullMethodName:          auth.RoleAdmin,

		reflectionv1.ServerReflection_ServerReflectionInfo_FullMethodName:      auth.RoleNone,
		reflectionv1alpha.ServerReflection_ServerReflectionInfo_FullMethodName: auth.RoleNone,
	}
}

// OpenMethods are the method prefixes that need no credentials: the
// health service, for load balancers and orchestrators' probes.
func OpenMethods() []string {
	return []string{"/" + healthpb.Health_ServiceDesc.ServiceName + "/"}
}
