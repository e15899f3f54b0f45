import { RealtimeUtils } from './lib/utils.js';
import { RealtimeAPI } from './lib/api.js';
import { RealtimeConversation } from './lib/conversation.js';
import { RealtimeClient } from './lib/client.js';

export { RealtimeAPI, RealtimeConversation, RealtimeClient, RealtimeUtils };
